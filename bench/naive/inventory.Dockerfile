# A naive image of inventory, the baseline for `invoke bench.size` and `invoke bench.rebuild`; never
# deployed. It does what nbship's services/inventory/Dockerfile avoids: one stage, so build tools,
# pip and apt caches ship; the code is copied before the dependencies are installed, so any code
# change reinstalls them all. Build context: the snapshot nbship.bench.build.snapshot makes
# (services/inventory, services/common, build/wheelhouse/inventory), laid out as in the repository.
ARG PYTHON_BUILD=nbship/python-build:local
FROM ${PYTHON_BUILD}
RUN apt-get update && apt-get install -y build-essential
WORKDIR /app
COPY . .
RUN pip install --break-system-packages --no-index --find-links build/wheelhouse/inventory \
      --requirement services/inventory/requirements.lock
ENV PYTHONPATH=/app/services/inventory:/app/services/common
WORKDIR /app/services/inventory
CMD ["gunicorn", "--config", "python:inventory.gunicorn_conf", "inventory:create_app()"]
