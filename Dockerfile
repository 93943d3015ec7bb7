# syntax=docker/dockerfile:1
#
# docker build -t doorstep .
# docker run -p 8080:8080 -e DATABASE_URL=postgres://… -e REDIS_URL=redis://… doorstep
# (role: docker run … doorstep serve --role web|worker|all)

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change doesn't re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Pure Go (glebarez/sqlite, pgx): CGO_ENABLED=0 gives a static binary for the
# distroless static image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /doorstep ./cmd/doorstep
# A writable working dir for the non-root user (the SQLite file of a
# single-node install lands here; mount a volume on /data to keep it).
RUN mkdir -p /out/data

# static-debian12 has CA certificates (calls to Shopify, Twilio, SMTP over TLS)
# and tzdata; :nonroot runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /doorstep /doorstep
WORKDIR /data
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/doorstep"]
CMD ["serve"]
