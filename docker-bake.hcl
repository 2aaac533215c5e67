// Every Shutter image, amd64 + arm64, from the one Dockerfile (docs/deploy.md *Images*):
//
//   docker buildx bake --push                                  # SHUTTER_REGISTRY=ghcr.io/OWNER/shutter
//   docker buildx bake --set '*.platform=linux/arm64' --load   # one platform into the local store
//
// Names match docker-compose.yml: ${SHUTTER_REGISTRY}/<process>:<TAG>. TAG is pinned here and in
// docker-compose.yml (infra/test/deploy-compose.test.ts keeps them equal); bump both together.

variable "SHUTTER_REGISTRY" {
  default = "localhost/shutter"
}

variable "TAG" {
  default = "0.1.0"
}

variable "IMAGE_SOURCE" {
  default = ""
}

group "default" {
  targets = ["gateway", "identity", "social-graph", "content", "notification"]
}

target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  args = {
    IMAGE_SOURCE = IMAGE_SOURCE
  }
}

target "gateway" {
  inherits = ["_common"]
  args     = { SERVICE = "gateway" }
  tags     = ["${SHUTTER_REGISTRY}/gateway:${TAG}"]
}

target "identity" {
  inherits = ["_common"]
  args     = { SERVICE = "identity" }
  tags     = ["${SHUTTER_REGISTRY}/identity:${TAG}"]
}

target "social-graph" {
  inherits = ["_common"]
  args     = { SERVICE = "social-graph" }
  tags     = ["${SHUTTER_REGISTRY}/social-graph:${TAG}"]
}

target "content" {
  inherits = ["_common"]
  args     = { SERVICE = "content" }
  tags     = ["${SHUTTER_REGISTRY}/content:${TAG}"]
}

target "notification" {
  inherits = ["_common"]
  args     = { SERVICE = "notification" }
  tags     = ["${SHUTTER_REGISTRY}/notification:${TAG}"]
}
