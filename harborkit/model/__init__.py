"""The shared vocabulary of the audit side, below every package that uses it.

- :mod:`harborkit.model.check`: what a check is and returns (``Check``,
  ``CheckContext``, ``CheckOptions``, ``Outcome``, ``Finding``, ``Status``,
  ``Severity``, ``SkipCheck``);
- :mod:`harborkit.model.cluster`: the cross-node checks' interface
  (``ClusterCheck``, ``ClusterContext``);
- :mod:`harborkit.model.change`: planned changes (``FileChange``, ``Command``,
  ``ManualStep``, ``Plan``, ``hint``) that checks plan and ``fix`` applies;
- :mod:`harborkit.model.result`: results and reports (``CheckResult``, ``Report``).

Checks, the engine, fix and the reports import these downwards; this package
imports nothing of harborkit above :mod:`harborkit.host.interface`.
"""
