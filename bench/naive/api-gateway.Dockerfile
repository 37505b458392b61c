# A naive image of api-gateway, the baseline for `invoke bench.size` and `invoke bench.rebuild`; never
# deployed. It does what nbship's services/api-gateway/Dockerfile avoids: one stage, so build tools,
# pip and apt caches ship; the code is copied before the dependencies are installed, so any code
# change reinstalls them all. Build context: the snapshot nbship.bench.build.snapshot makes
# (services/api-gateway, services/common, build/wheelhouse/api-gateway), laid out as in the repository.
ARG PYTHON_BUILD=nbship/python-build:local
FROM ${PYTHON_BUILD}
RUN apt-get update && apt-get install -y build-essential
WORKDIR /app
COPY . .
RUN pip install --break-system-packages --no-index --find-links build/wheelhouse/api-gateway \
      --requirement services/api-gateway/requirements.lock
ENV PYTHONPATH=/app/services/api-gateway:/app/services/common
WORKDIR /app/services/api-gateway
CMD ["gunicorn", "--config", "python:gateway.gunicorn_conf", "gateway:create_app()"]
