"""An example site-specific check, shipped as its own distribution."""

from harborkit.model.check import Check, CheckContext, Outcome, Severity, failed, passed


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

    def plan(self, ctx: CheckContext, outcome: Outcome):
        """The fix, as planned changes: the same hint, diff, apply and rollback
        as the built-in checks get."""
        from harborkit.model.change import file_change, read_bytes

        text = (read_bytes(ctx.host, "/etc/motd") or b"").decode()
        change = file_change(
            self.id,
            ctx.host,
            "/etc/motd",
            text + "This host runs Harbor.\n",
            "the banner names Harbor",
        )
        return [change] if change else []
