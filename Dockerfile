# Container image of kompliance for people with a container engine. The project builds its image
# without one (`make image`, image/build.sh: umoci and skopeo); this file gives the same layout:
# the stripped binary at /usr/local/bin/kompliance, glibc, the CA bundle, user 65532.
#   docker build --build-arg KOMPLIANCE_GIT_COMMIT=$(git rev-parse HEAD) -t kompliance .
FROM rust:1.95-bookworm AS build
ARG KOMPLIANCE_GIT_COMMIT=unknown
ENV KOMPLIANCE_GIT_COMMIT=${KOMPLIANCE_GIT_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --no-default-features --bin kompliance \
 && strip -o /kompliance target/release/kompliance

FROM gcr.io/distroless/cc-debian12:nonroot
ARG KOMPLIANCE_GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="kompliance" \
      org.opencontainers.image.source="https://github.com/kompliance/kompliance" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${KOMPLIANCE_GIT_COMMIT}"
COPY --from=build /kompliance /usr/local/bin/kompliance
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kompliance"]
