# Container image of kompliance: non-root, minimal base. (No container engine exists on the
# project's build machines, so this file is reviewed, not built, in CI.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --no-default-features --bin kompliance

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kompliance /usr/local/bin/kompliance
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kompliance"]
