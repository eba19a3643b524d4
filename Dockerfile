# Dockerfile: openai-fcgi behind lighttpd, the app's master under spawn-fcgi (build with autotools, run on bookworm-slim).
#
#   docker build -t openai-fcgi .
#   docker run -p 8000:8000 -e API_AUTH_TOKENS=your-key-of-16-chars-or-more openai-fcgi
# ENVIRONMENT is production by default: without API_AUTH_TOKENS the container
# exits 78 at once. The settings are the app's (conf/openai-fcgi.conf) plus
# HOST/PORT (lighttpd's address), PROCESSES (worker processes, replaced when
# one dies) and THREADS.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential autoconf automake \
	pkg-config libfcgi-dev libjson-c-dev libconfig-dev libcurl4-openssl-dev libsodium-dev libhiredis-dev \
	libhttp-parser-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The docs pages' Swagger UI and ReDoc, as www/package-lock.json pins them;
# make install copies what the pages load (they are off in production
# unless DOCS=on).
RUN cd www && npm ci --no-audit --no-fund --loglevel=error
RUN autoreconf -fi \
 && ./configure --prefix=/usr/local --sysconfdir=/etc --localstatedir=/var \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && install -D -m 0755 scripts/docker-entry /out/usr/local/bin/docker-entry \
 && install -D -m 0755 conf/spawn-fcgi.sh /out/usr/local/share/openai-fcgi/spawn-fcgi.sh \
 && install -D -m 0644 lighttpd.conf.example /out/usr/local/share/openai-fcgi/lighttpd.conf.example

FROM debian:bookworm-slim
# libcurl4 by name: the app opens libcurl.so.4 with dlopen (only when a model
# is upstream), so no linker or dpkg-shlibdeps would ask for it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends lighttpd spawn-fcgi tini curl \
	libfcgi0ldbl libjson-c5 libconfig9 libsodium23 libhiredis0.14 libhttp-parser2.9 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/openai-fcgi \
	--shell /usr/sbin/nologin openai-fcgi \
 && install -d -o openai-fcgi -g openai-fcgi /var/lib/openai-fcgi /run/openai-fcgi
COPY --from=build /out/ /

# The blueprint's settings and their container defaults. API_AUTH_TOKENS has
# none on purpose: production refuses to start without it.
ENV ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_LEVEL=INFO \
    LOG_FORMAT=text \
    RATE_LIMIT_PER_MINUTE=60 \
    CORS_ORIGINS= \
    STATE_DIR=/var/lib/openai-fcgi \
    PROCESSES=2 \
    THREADS=4

USER openai-fcgi
# The rate-limit file: every process shares it, and it survives restarts.
VOLUME /var/lib/openai-fcgi
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
	CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/docker-entry"]
