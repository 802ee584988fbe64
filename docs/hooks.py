"""MkDocs hook: pages that are generated from the code, so they cannot drift from it.

``<!-- reason-codes -->`` in a page becomes the reason-code table of the shipped ``national``
profile; ``<!-- policy-schema -->`` becomes the list of a profile's sections and fields.
"""

from __future__ import annotations


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reason_table() -> str:
    from landplan.core.policy import load_policy

    policy = load_policy("national")
    rows = ["| code | severity | 中文 | English | basis |", "|---|---|---|---|---|"]
    for rule in [*policy.constraints.values(), policy.custom_constraint]:
        severity = {"exclude": "block", "require_inside": "block", "warn": "warn"}.get(
            rule.action, "info"
        )
        rows.append(
            f"| `{rule.code}` | {severity} | {_cell(rule.label_zh)} | {_cell(rule.label_en)} "
            f"| {_cell(rule.basis)} |"
        )
    for kind, rule in policy.networks.items():
        rows.append(
            f"| `NETWORK_MISSING:{kind}` | {rule.requirement} | {_cell(rule.label_zh)}未通 "
            f"(可接入 ≤ {rule.connectable_m:g} m) | no {_cell(rule.label_en)} | {_cell(rule.basis)} |"
        )
    rows.append("")
    rows.append(
        "Message templates (``[messages.*]`` of the profile; ``{value}`` etc. are filled in):"
    )
    rows.append("")
    rows.append("| template | 中文 | English |")
    rows.append("|---|---|---|")
    for key, msg in policy.messages.items():
        rows.append(f"| `{key}` | {_cell(msg.zh)} | {_cell(msg.en)} |")
    return "\n".join(rows)


def policy_schema() -> str:
    from landplan.core.policy import Policy

    rows = ["| section | fields |", "|---|---|"]
    for name, field in Policy.model_fields.items():
        annotation = getattr(field.annotation, "__name__", str(field.annotation))
        rows.append(f"| `{name}` | `{_cell(annotation)}` |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- reason-codes -->" in markdown:
        markdown = markdown.replace("<!-- reason-codes -->", reason_table())
    if "<!-- policy-schema -->" in markdown:
        markdown = markdown.replace("<!-- policy-schema -->", policy_schema())
    return markdown
