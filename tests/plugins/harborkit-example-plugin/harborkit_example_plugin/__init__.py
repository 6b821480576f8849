"""An example site-specific check, shipped as its own distribution."""

from harborkit.engine.interface import Check, CheckContext, Outcome, Severity, failed, passed


class MotdMentionsHarbor(Check):
    """The login banner (/etc/motd) tells operators that this host runs Harbor."""

    id = "site.motd"
    title = "Login banner names Harbor"
    group = "site"
    severity = Severity.LOW
    remediation = "Add a line mentioning Harbor to /etc/motd"

    def run(self, ctx: CheckContext) -> Outcome:
        try:
            text = ctx.host.read_text("/etc/motd")
        except FileNotFoundError:
            return failed("/etc/motd does not exist")
        if "harbor" in text.lower():
            return passed("/etc/motd mentions Harbor")
        return failed("/etc/motd does not mention Harbor")
