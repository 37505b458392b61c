# htpasswd from Debian's apache2-utils, to write the bcrypt htpasswd file of `registry.up --auth`
# on hosts without apache2-utils (neither registry image ships htpasswd). Built once per base.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# Build-time only (ARG, not ENV): apt must not prompt.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends apache2-utils \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
# As nobody (65534): it reads the password on stdin (-i) and prints the line (-n), nothing else.
USER 65534
ENTRYPOINT ["htpasswd"]
CMD ["-niB", "nbship"]
