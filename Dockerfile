# syntax=docker/dockerfile:1
#
# docker build -t doorstep .
# docker run -p 8080:8080 -e DATABASE_URL=postgres://… -e REDIS_URL=redis://… doorstep
# (role: docker run … doorstep serve --role web|worker|all)
# Every role listens on $PORT: web for everything, worker for /healthz,
# /readyz and /metrics only. SIGTERM shuts down gracefully (README.md,
# "Production"); give the container 30 s plus any --drain-delay.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change doesn't re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Pure Go (glebarez/sqlite, pgx): CGO_ENABLED=0 gives a static binary for the
# distroless static image. Time zone data is compiled in (cmd/doorstep imports
# time/tzdata; -tags timetzdata says the same), so shop time zones resolve
# whatever the base image carries.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -tags timetzdata -ldflags='-s -w' -o /doorstep ./cmd/doorstep
# A writable working dir for the non-root user (the SQLite file of a
# single-node install lands here; mount a volume on /data to keep it).
RUN mkdir -p /out/data

# static-debian12 has CA certificates (calls to Shopify, Twilio, SMTP over TLS);
# :nonroot runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /doorstep /doorstep
WORKDIR /data
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/doorstep"]
CMD ["serve"]
