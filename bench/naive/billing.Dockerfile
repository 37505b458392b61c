# A naive image of billing, the baseline for `invoke bench.size` and `invoke bench.rebuild`; never
# deployed. It does what nbship's services/billing/Dockerfile avoids: one stage, so build tools,
# pip and apt caches ship; the code is copied before the dependencies are installed, so any code
# change reinstalls them all. Build context: the snapshot nbship.bench.build.snapshot makes
# (services/billing, services/common, build/wheelhouse/billing), laid out as in the repository.
ARG PYTHON_BUILD=nbship/python-build:local
FROM ${PYTHON_BUILD}
RUN apt-get update && apt-get install -y build-essential
WORKDIR /app
COPY . .
RUN pip install --break-system-packages --no-index --find-links build/wheelhouse/billing \
      --requirement services/billing/requirements.lock
ENV PYTHONPATH=/app/services/billing:/app/services/common
WORKDIR /app/services/billing
CMD ["gunicorn", "--config", "python:billing.gunicorn_conf", "billing:create_app()"]
