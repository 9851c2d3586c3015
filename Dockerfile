# syntax=docker/dockerfile:1

# One image with every server binary of the product; docker-compose.yml picks
# the program per service with `command`:
#
#   /usr/local/bin/receiver     Svix webhook receiver -> JetStream   (:8080)
#   /usr/local/bin/worker       issuance sagas                       (:8081)
#   /usr/local/bin/seamsim      Seam API simulator (tests only)      (:8090)
#   /usr/local/bin/healthcheck  `healthcheck http://127.0.0.1:8080/readyz`:
#                               exit 0 on 2xx, else 1 (no shell needed)
#
# Build:   docker build -t seamcards:dev .
# Run one: docker run --rm seamcards:dev /usr/local/bin/worker -h

# Keep in step with the go line of go.mod (compose_test.go checks it).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, in a cache mount that survives between builds.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    go mod download
# All binaries in one go build: one compile of the shared packages. Sources
# are bind-mounted (see .dockerignore), the build cache is a cache mount.
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,target=. \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/ \
      ./cmd/receiver ./cmd/worker ./cmd/seamsim ./cmd/healthcheck

# Static binaries need no libc. distroless/static brings CA certificates (the
# worker calls https://connect.getseam.com), tzdata and the nonroot user; it
# has no shell, so health checks use /usr/local/bin/healthcheck.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
EXPOSE 8080 8081 8090
