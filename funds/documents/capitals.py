"""Amounts in Chinese capitals (大写), as cheques and legal instruments write them.

The rules of 《支付结算办法》 (附一, 正确填写票据和结算凭证的基本规定): digits in 壹贰叁肆伍陆柒捌玖,
units 拾佰仟 within each group of four, 万 and 亿 between groups; one 零 for a run of zeros
inside a group or before a group's thousands, none for a zero in the 万 or 元 place (the rules
allow either, and their examples leave it out: 壹拾万柒仟元伍角叁分); 整 after 元 or 角 when
there are no fen; nothing after 分.
"""

from decimal import ROUND_HALF_UP, Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿", "万亿")
FEN = Decimal("0.01")


def _group(digits: str) -> str:
    """Up to four digits, without the zeros at their ends: 1020 → 壹仟零贰拾."""
    words: list[str] = []
    zero = False
    for position, digit in enumerate(reversed(digits)):
        if digit == "0":
            zero = bool(words)  # a zero matters only between non-zero digits
            continue
        if zero:
            words.append(DIGITS[0])
            zero = False
        words.append(DIGITS[int(digit)] + PLACES[position])
    return "".join(reversed(words))


def yuan_in_capitals(amount: Decimal) -> str:
    """``Decimal("1234.56")`` → 壹仟贰佰叁拾肆元伍角陆分; ``Decimal("20000")`` → 贰万元整."""
    if amount < 0:
        raise ValueError("An amount in capitals cannot be negative.")
    fen_total = int(amount.quantize(FEN, rounding=ROUND_HALF_UP) * 100)
    yuan, cents = divmod(fen_total, 100)
    jiao, fen = divmod(cents, 10)
    if yuan >= 10**16:
        raise ValueError("The amount is too large to write in capitals.")

    words = ""
    if yuan:
        text = str(yuan)
        groups: list[str] = []
        while text:
            groups.insert(0, text[-4:])
            text = text[:-4]
        need_zero = False
        for index, group in enumerate(groups):
            unit = GROUPS[len(groups) - 1 - index]
            if int(group) == 0:
                need_zero = True
                continue
            if words and (need_zero or group[0] == "0"):
                words += DIGITS[0]
            words += _group(group) + unit
            need_zero = False
        words += "元"
    if not jiao and not fen:
        return (words or "零元") + "整"
    if jiao:
        words += DIGITS[jiao] + "角"
    elif yuan:
        words += DIGITS[0]  # 壹元零伍分
    return words + (DIGITS[fen] + "分" if fen else "整")
