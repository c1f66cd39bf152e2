# stemcast server image. CPU by default; a CUDA image with --build-arg TORCH_VARIANT=cu128
# (any variant PyTorch's index has for torch 2.13.0: cu126, cu128, ...).
#   docker build -t stemcast .
#   docker build -t stemcast:cuda --build-arg TORCH_VARIANT=cu128 .
#   docker run -p 8000:8000 -v stemcast-data:/data -v /path/to/models:/models stemcast
# or `docker compose up` (docker-compose.yml). Run with --gpus all for the CUDA image.
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    STEMCAST_HOST=0.0.0.0 \
    STEMCAST_PORT=8000 \
    STEMCAST_DATA_DIR=/data \
    STEMCAST_MODEL_REPO=/models \
    HF_HOME=/data/huggingface
# HF_HOME under the data volume: weights downloaded by `auto` or `--model htdemucs` outlive
# the container (outside a volume they were lost with it).

WORKDIR /app
# torch first, from PyTorch's own index, so the variant (cpu or a CUDA build) is the one asked
# for; the project's pin (torch==2.13.0) is then already satisfied.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" torch==2.13.0

COPY pyproject.toml README.md ./
COPY server ./server
COPY protocol ./protocol
COPY web ./web
COPY THIRD_PARTY_NOTICES.md ./
COPY docker/collect_licences.py ./docker/
# The s3 extra (boto3) so that `--storage s3://...` works in the image (README: Deployment).
# The wheels bundle LGPL libraries (LAME, libsoxr, FFmpeg, libsndfile): their licence texts
# ship with the image (THIRD_PARTY_NOTICES.md), as do the Apache NOTICE files of boto3,
# botocore and s3transfer; the step fails if one of them has none. (DL3013 takes ".[s3]",
# this project's own folder, for an unpinned package from the index.)
# hadolint ignore=DL3013
RUN pip install ".[s3]" \
    && python docker/collect_licences.py /usr/share/licenses/stemcast \
    && cp THIRD_PARTY_NOTICES.md /usr/share/licenses/stemcast/ \
    && useradd --create-home --uid 10001 stemcast \
    && mkdir -p /data/huggingface /models \
    && chown -R stemcast:stemcast /data /models

USER 10001

VOLUME ["/data", "/models"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
CMD ["stemcast", "serve"]
