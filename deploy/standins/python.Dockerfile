# Stand-in for python:3.12-slim-bookworm, built by build.sh on top of a debootstrapped Debian
# bookworm whose /usr/local already holds a CPython 3.12 (copied from a build for bookworm).
# This file only adds what `docker import` cannot: the first-run steps and the image settings.
ARG ROOTFS
FROM ${ROOTFS}

ARG PYTHON_VERSION
# The settings the official image has (PATH first has /usr/local/bin; a UTF-8 locale without
# installing locales; the version for scripts that read it).
# PIP_CERT: pip reads its own copy of Mozilla's list, not the system bundle that build.sh added
# this machine's local CAs to.
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHON_VERSION=${PYTHON_VERSION} \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt

# libpython3.12.so lives in /usr/local/lib (in Debian's default ld.so.conf): refresh the cache,
# because the copied binary's RUNPATH names the directory it was built in, absent here.
# pip comes from the wheel that ships inside the standard library (ensurepip), so no network is
# needed; it writes its scripts with this image's interpreter path. Bytecode is dropped like in
# the official image (Python rebuilds it, or not with PYTHONDONTWRITEBYTECODE).
RUN ldconfig \
 && python3.12 -m ensurepip --default-pip \
 && python --version && python3 --version && pip --version && pip3 --version \
 && find /usr/local -depth -type d -name __pycache__ -exec rm -rf '{}' +

CMD ["python3"]
