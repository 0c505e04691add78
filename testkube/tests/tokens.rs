//! TokenReviews from the token table and non-resource SubjectAccessReviews decided per user, with
//! the real kube client and k8s-openapi types.

mod common;

use common::client;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use testkube::TestKube;

async fn authenticate(api: &Api<TokenReview>, token: &str) -> (bool, Option<String>, Vec<String>) {
    let review = TokenReview { spec: TokenReviewSpec { token: token.into(), ..Default::default() }, ..Default::default() };
    let status = api.create(&PostParams::default(), &review).await.expect("token review").status.expect("status");
    let user = status.user.unwrap_or_default();
    (status.authenticated.unwrap_or(false), user.username, user.groups.unwrap_or_default())
}

async fn allowed(api: &Api<SubjectAccessReview>, user: &str, path: &str) -> bool {
    let spec = SubjectAccessReviewSpec {
        user: Some(user.into()),
        non_resource_attributes: Some(NonResourceAttributes { path: Some(path.into()), verb: Some("get".into()) }),
        ..Default::default()
    };
    let review = SubjectAccessReview { spec, ..Default::default() };
    api.create(&PostParams::default(), &review).await.expect("access review").status.expect("status").allowed
}

#[tokio::test]
async fn tokens_authenticate_their_users_and_grants_decide_non_resource_reviews() {
    let server = TestKube::start().await.expect("testkube");
    server.add_token("t-prom", "system:serviceaccount:monitoring:prometheus", &["system:serviceaccounts"]);
    server.add_token("t-other", "alice", &[]);
    server.grant_non_resource("system:serviceaccount:monitoring:prometheus", "get", "/metrics");
    let c = client(&server, "tokens-test");
    let tokens: Api<TokenReview> = Api::all(c.clone());
    let (ok, user, groups) = authenticate(&tokens, "t-prom").await;
    assert!(ok);
    assert_eq!(user.as_deref(), Some("system:serviceaccount:monitoring:prometheus"));
    assert_eq!(groups, ["system:serviceaccounts"]);
    assert!(!authenticate(&tokens, "nope").await.0, "an unknown token does not authenticate");

    let sars: Api<SubjectAccessReview> = Api::all(c);
    assert!(allowed(&sars, "system:serviceaccount:monitoring:prometheus", "/metrics").await);
    assert!(!allowed(&sars, "system:serviceaccount:monitoring:prometheus", "/debug").await, "only the granted path");
    assert!(!allowed(&sars, "alice", "/metrics").await, "a table user without a grant is denied");
    // Users outside the table keep the server-wide answer.
    server.set_sar_allowed(true);
    assert!(allowed(&sars, "bob", "/metrics").await);
    assert!(!allowed(&sars, "alice", "/metrics").await);
    assert_eq!(server.reviews().len(), 6, "two token reviews and four table decisions are logged");
}
