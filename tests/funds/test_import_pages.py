"""The case file's import: upload, preview, commit, and the proposed stop-payments."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from funds.models import Instruction, StatementImport, Transfer
from tests.funds.statement_files import MULE_1, chain_rows, default_file
from tests.funds.test_imports import ImportTestCase


class ImportPages(ImportTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.officer_lx)

    def preview(self, content: bytes) -> StatementImport:
        response = self.client.post(
            f"/cases/{self.case_id}/imports/",
            {"file": SimpleUploadedFile("流水.csv", content), "template": "", "institution": ""},
        )
        assert response.status_code == 302, response.content.decode()
        return StatementImport.objects.latest("id")

    def test_upload_previews_then_commit_writes_without_a_second_upload(self):
        statement_import = self.preview(default_file(chain_rows()))
        assert statement_import.dry_run and statement_import.status == "done"
        page = self.client.get(f"/imports/{statement_import.pk}/", HTTP_ACCEPT_LANGUAGE="en")
        assert "Commit the import" in page.content.decode()
        assert not Transfer.objects.exists()
        response = self.client.post(
            f"/imports/{statement_import.pk}/commit/", {"sha256": statement_import.sha256}
        )
        assert response.status_code == 302
        statement_import.refresh_from_db()
        assert (statement_import.dry_run, statement_import.created) == (False, 3)
        assert Transfer.objects.filter(case_id=self.case_id).count() == 3
        case_page = self.client.get(
            f"/cases/{self.case_id}/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
        assert statement_import.sha256[:12] in case_page
        assert "Send stop-payments for the chosen" in case_page

    def test_a_preview_with_errors_lists_them_and_cannot_be_committed(self):
        rows = chain_rows()
        rows[0][7] = "abc"
        statement_import = self.preview(default_file(rows))
        page = self.client.get(
            f"/imports/{statement_import.pk}/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
        # The errors are kept as they were said at the upload, in its language.
        assert "交易金额" in page and "abc 不是金额。" in page
        assert "Commit the import" not in page
        response = self.client.post(
            f"/imports/{statement_import.pk}/commit/", {"sha256": statement_import.sha256}
        )
        assert response.status_code == 302
        assert not Transfer.objects.exists()

    def test_a_commit_must_name_the_previewed_file(self):
        statement_import = self.preview(default_file(chain_rows()))
        self.client.post(f"/imports/{statement_import.pk}/commit/", {"sha256": "0" * 64})
        statement_import.refresh_from_db()
        assert statement_import.dry_run
        assert not Transfer.objects.exists()

    def test_the_progress_partial_is_passive_and_tells_htmx_to_reload_when_done(self):
        statement_import = self.preview(default_file(chain_rows()))
        response = self.client.get(
            f"/imports/{statement_import.pk}/progress/", HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200 and response["HX-Refresh"] == "true"

    def test_another_units_officer_gets_404_for_the_preview(self):
        statement_import = self.preview(default_file(chain_rows()))
        self.client.force_login(self.officer_sn)
        assert self.client.get(f"/imports/{statement_import.pk}/").status_code == 404

    def test_the_chosen_proposed_stops_are_sent_from_the_case_file(self):
        statement_import = self.preview(default_file(chain_rows()))
        self.client.post(
            f"/imports/{statement_import.pk}/commit/", {"sha256": statement_import.sha256}
        )
        chosen = self.ids_of(MULE_1)
        response = self.client.post(f"/cases/{self.case_id}/proposed-stops/", {"account": chosen})
        assert response.status_code == 302
        stop = Instruction.objects.get(case_id=self.case_id)
        assert (stop.kind, stop.status, str(stop.requested_amount)) == (
            "stop_payment",
            "pending",
            "50000.00",
        )

    def ids_of(self, *numbers: str) -> list[int]:
        from funds.models import InvolvedAccount

        return [
            InvolvedAccount.objects.get(case_id=self.case_id, account__number=n).pk for n in numbers
        ]
