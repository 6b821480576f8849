"""Air-gap bundles: build, verify, inspect, load.

A bundle is one uncompressed tar (layout in :mod:`harborkit.bundle.format`). On a
target with only tar, coreutils and docker it is checked and loaded with::

    mkdir hb && tar -xf harbor-v1.8.0.bundle.tar -C hb && cd hb && sha256sum -c SHA256SUMS
    tar -cC images . | docker load
    tar -xzf installer/harbor-online-installer-v1.8.0.tgz -C /opt

or, with harborkit, ``harborkit bundle load harbor-v1.8.0.bundle.tar --install-dir /opt``.
"""
