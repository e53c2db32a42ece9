"""A liaison's instruction list, page by page from its index (keyset), its count bounded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from django.db import connection
from django.test import override_settings
from django.utils import timezone

from funds.api.pagination import cursor_decode, keyset_after
from funds.models import Instruction
from funds.selectors import instruction_list
from tests.funds.helpers import FundsTestCase


def flat(pages: list[list[int]]) -> list[int]:
    return [pk for page in pages for pk in page]


class InboxPagesTest(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        case = self.filed_case()
        stops = []
        for n in range(8):
            account = self.add_account(case["id"], number=f"62220200000100{n:02d}")
            stops.append(
                self.ask(
                    case["id"],
                    {"kind": "stop_payment", "account": account["id"], "amount": "500.00"},
                )
            )
        # Answered ones sort after what still waits; among the waiting, two are due at the
        # same moment (the tie is broken newest first) and one has no due time (last).
        self.execute(stops[0]["id"], "500.00")
        self.execute(stops[1]["id"], "100.00")
        due = timezone.now() + timedelta(hours=5)
        Instruction.objects.filter(pk__in=[stops[2]["id"], stops[3]["id"]]).update(
            response_due_at=due
        )
        Instruction.objects.filter(pk=stops[4]["id"]).update(response_due_at=None)
        # And one sent to another bank, which ICBC's liaison never sees.
        other = self.add_account(case["id"], number="6217000000000099", institution="CCB")
        self.ask(case["id"], {"kind": "stop_payment", "account": other["id"], "amount": "9.00"})
        self.expected = self.inbox_order()

    def inbox_order(self) -> list[int]:
        """ICBC's instructions in the inbox's order, computed here without the index."""
        far = timezone.now() + timedelta(days=365 * 100)
        rows = Instruction.objects.filter(institution__code="ICBC").values(
            "id", "status", "response_due_at", "requested_at"
        )
        return [
            row["id"]
            for row in sorted(
                rows,
                key=lambda r: (
                    0 if r["status"] == "pending" else 1,
                    r["response_due_at"] or far,
                    -r["requested_at"].timestamp(),
                    -r["id"],
                ),
            )
        ]

    def get(self, path: str, status: int = 200, user=None) -> dict[str, Any]:
        return self.ok(self.api(user or self.liaison_icbc).get(path), status)

    def walk(self, path: str) -> tuple[list[list[int]], list[dict[str, Any]]]:
        pages, answers = [], []
        while path:
            answer = self.get(path)
            answers.append(answer)
            pages.append([row["id"] for row in answer["results"]])
            path = answer["next"]
        return pages, answers

    def test_the_next_links_walk_the_inbox_in_its_order_without_repeating_or_skipping(self):
        pages, answers = self.walk("/api/v1/instructions/?page_size=3")
        self.assertEqual([len(p) for p in pages], [3, 3, 2])
        self.assertEqual(flat(pages), self.expected)
        self.assertIsNone(answers[0]["previous"])
        self.assertTrue(all(a["count"] == 8 and a["count_exact"] for a in answers))
        self.assertIn("cursor=", answers[0]["next"])
        self.assertNotIn("page=", answers[0]["next"])
        # The same rows as the numbered pages, which stay as they were.
        numbered = [
            [
                row["id"]
                for row in self.get(f"/api/v1/instructions/?page={n}&page_size=3")["results"]
            ]
            for n in (1, 2, 3)
        ]
        self.assertEqual(numbered, pages)

    def test_the_previous_links_walk_back_through_the_same_pages(self):
        pages, answers = self.walk("/api/v1/instructions/?page_size=3")
        back = []
        path = answers[-1]["previous"]
        while path:
            answer = self.get(path)
            back.append([row["id"] for row in answer["results"]])
            path = answer["previous"]
        self.assertEqual(back, pages[-2::-1])
        # And forward again from the first page reached backwards.
        self.assertEqual(self.get(answer["next"])["results"][0]["id"], pages[1][0])

    def test_filters_apply_to_the_cursor_pages(self):
        pages, _ = self.walk("/api/v1/instructions/?page_size=2&status=pending")
        pending = [pk for pk in self.expected if Instruction.objects.get(pk=pk).status == "pending"]
        self.assertEqual(flat(pages), pending)

    def test_a_row_answered_while_the_bank_pages_moves_and_the_others_keep_their_places(self):
        first = self.get("/api/v1/instructions/?page_size=3")
        self.execute(first["results"][0]["id"], "500.00")
        rest, _ = self.walk(first["next"])
        # Offset pages would now skip the row that moved up into the first page's place.
        self.assertEqual(flat(rest)[:2], self.expected[3:5])
        self.assertIn(first["results"][0]["id"], flat(rest))

    @override_settings(API_COUNT_LIMIT=5)
    def test_the_count_stops_at_the_limit_and_says_so(self):
        answer = self.get("/api/v1/instructions/?page_size=3")
        self.assertEqual((answer["count"], answer["count_exact"]), (5, False))
        self.assertEqual(len(self.walk("/api/v1/instructions/?page_size=3")[0]), 3)
        # Within the limit the count is exact.
        answer = self.get("/api/v1/instructions/?status=executed")
        self.assertEqual((answer["count"], answer["count_exact"]), (2, True))
        # Numbered pages count everything, as before.
        answer = self.get("/api/v1/instructions/?page=1")
        self.assertEqual((answer["count"], answer["count_exact"]), (8, True))

    def test_a_cursor_that_is_not_one_is_a_400_on_cursor(self):
        good = self.get("/api/v1/instructions/?page_size=3")["next"]
        cursor = parse_qs(urlparse(good).query)["cursor"][0]
        for bad in [
            "x",
            "!!!",
            cursor[:-4],
            "eyJrIjogWzEsIG51bGxdfQ",
            "eyJrIjogWzAsIG51bGwsICIyMDI2LTEyLTAzVDEwOjAwOjAwIiwgMV19",
        ]:
            with self.subTest(cursor=bad):
                answer = self.get(f"/api/v1/instructions/?cursor={bad}", status=400)
                self.assertEqual(list(answer), ["cursor"])

    def test_the_police_list_keeps_numbered_pages(self):
        answer = self.get("/api/v1/instructions/?page_size=3", user=self.officer_lx)
        self.assertIn("page=2", answer["next"])
        self.assertEqual((answer["count"], answer["count_exact"]), (9, True))

    def test_the_page_is_read_from_the_index_in_the_inbox_order_without_a_sort(self):
        """The plan of a page, with sequential scans priced out as on a large table: the
        index instruction_liaison_inbox gives the rows in order, no Sort node, and the
        cursor's range is an index condition."""
        good = self.get("/api/v1/instructions/?page_size=3")["next"]
        key, _ = cursor_decode(parse_qs(urlparse(good).query)["cursor"][0])
        page = instruction_list(self.liaison_icbc).filter(*keyset_after(key))[:4]
        sql, params = page.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        self.assertIn("instruction_liaison_inbox", plan)
        self.assertNotIn("Sort", plan.split("SubPlan")[0])
        self.assertRegex(plan, r"Index Cond: .*ROW\(")
