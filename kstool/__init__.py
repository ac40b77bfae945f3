"""kstool: declarative, reproducible Java keystores.

Packages: ``spec`` (YAML → JSON Schema → frozen model), ``engine`` (the pipeline in the order it runs;
``engine.prepare`` lists the stages), ``cli`` (the entry point, the one error boundary, commands and the views that
print), ``formats`` (JKS/JCEKS/PKCS12, bytes in and out), ``crypto`` (certificates, names, keys, import material);
``errors`` holds the error family and ``ExitCode``.
"""

from __future__ import annotations

__version__ = "0.1.0"
