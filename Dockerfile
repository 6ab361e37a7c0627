# cb-step as an image: the static binary and CA certificates, nothing else.
#
#   docker build -t cb-step .                        # from source, in a Rust image (BuildKit)
#   COPY --from=cb-step /cb-step /usr/local/bin/cb-step   # in your CodeBuild image's Dockerfile
#
# With `--build-arg BINARY_FROM=prebuilt`, it packages a binary built beforehand
# (dist/cb-step and dist/ca-certificates.crt), as cb-step's own buildspec.yml does. BuildKit
# builds only the stages the target needs, so the Rust stage is then skipped.
ARG BINARY_FROM=build

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
 && mkdir -p /out/etc/ssl/certs \
 && cp target/x86_64-unknown-linux-musl/release/cb-step /out/cb-step \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM scratch AS prebuilt
COPY dist/cb-step /out/cb-step
COPY dist/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

FROM ${BINARY_FROM} AS binary

FROM scratch AS final
COPY --from=binary /out/ /
ENTRYPOINT ["/cb-step"]
