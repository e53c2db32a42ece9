"""Which bank or payment institution a statement's cell names: a code (``ICBC``), a name
(``中国工商银行``), a branch's full name (``中国工商银行股份有限公司济南历下支行``, by its leading
bank name) or a common short name (``工行``, ``微信支付``)."""

from __future__ import annotations

import unicodedata

from accounts.models import Organization

# Short and common names by institution code, besides each institution's own name. A name
# maps to an institution only if an institution with that code exists.
ALIASES: dict[str, tuple[str, ...]] = {
    "ICBC": ("中国工商银行", "工商银行", "工行"),
    "CCB": ("中国建设银行", "建设银行", "建行"),
    "ABC": ("中国农业银行", "农业银行", "农行"),
    "BOC": ("中国银行", "中行"),
    "BOCOM": ("交通银行", "交行"),
    "CMB": ("招商银行", "招行"),
    "PSBC": ("中国邮政储蓄银行", "邮政储蓄银行", "邮储银行"),
    "ALIPAY": ("支付宝", "支付宝（中国）网络技术有限公司"),
    "TENPAY": ("财付通", "财付通支付科技有限公司", "微信支付", "微信"),
}


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


class InstitutionResolver:
    """Every institution loaded once (one query), then looked up in memory per cell."""

    def __init__(self) -> None:
        institutions = list(Organization.objects.institutions().only("pk", "code", "name"))
        by_code = {_key(i.code): i for i in institutions}
        self._by_code = by_code
        names: dict[str, Organization] = {}
        for institution in institutions:
            names[_key(institution.name)] = institution
        for code, aliases in ALIASES.items():
            aliased = by_code.get(code)
            if aliased is not None:
                for alias in aliases:
                    names.setdefault(_key(alias), aliased)
        # Longest first, so that 中国工商银行… is ICBC and not a shorter name it starts with.
        self._prefixes = sorted(names.items(), key=lambda item: -len(item[0]))

    def find(self, text: str) -> Organization | None:
        """The institution ``text`` names, or None."""
        key = _key(text)
        if not key:
            return None
        if key in self._by_code:
            return self._by_code[key]
        for name, institution in self._prefixes:
            if key.startswith(name):
                return institution
        return None

    def by_code(self, code: str) -> Organization | None:
        return self._by_code.get(_key(code))
