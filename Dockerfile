# isr in a small runtime image: built with the workspace's locked dependencies in the
# official Rust image, run as an unprivileged user on Debian slim with only the CA
# certificates (for https origins, rediss:// and the CDN APIs).
#
#   docker build -t isr .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e ISR_ORIGIN=http://app:3000 isr
#
# 8080 serves the site; 9090 serves /metrics, /healthz and /readyz (keep it private).

FROM rust:1.91-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p isr-server --bin isr \
 && strip target/release/isr

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/isr --create-home --shell /usr/sbin/nologin isr
COPY --from=build /src/target/release/isr /usr/local/bin/isr
USER isr
WORKDIR /var/lib/isr
ENV ISR_LISTEN=0.0.0.0:8080 \
    ISR_METRICS_LISTEN=0.0.0.0:9090 \
    ISR_CACHE_DIR=/var/lib/isr/cache
VOLUME /var/lib/isr/cache
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/isr"]
CMD ["serve"]
