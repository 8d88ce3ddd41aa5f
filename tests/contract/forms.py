"""The storage contract for form sessions and attachments, run on both drivers."""

from __future__ import annotations

import os

from service.domain.forms import FormSessions, SessionInput
from service.records import Upload
from service.storage import Backend


class FormStoreContract:
    """Subclasses supply ``backend``; the domain service runs on it."""

    def forms(self, backend: Backend) -> FormSessions:
        return FormSessions(backend.forms, max_attachment_bytes=20 * 1024 * 1024)

    def test_sessions_and_attachments_round_trip(
        self, backend: Backend, unique: str
    ) -> None:
        forms = self.forms(backend)
        blob = os.urandom(700_000)  # three chunks
        made = forms.create(
            unique,
            SessionInput(
                uuid="s1",
                unit_id="u",
                created=5,
                saved=6,
                data={"a": "1", "n": 2.5, "pic": Upload("p.bin", "x/y", blob)},
            ),
        )
        got = forms.get(unique, "s1")
        assert got == made
        meta, chunks = forms.attachment(unique, "s1", "pic")
        assert b"".join(chunks) == blob and meta.length == len(blob)

    def test_replacing_and_merging_never_orphans_bytes(
        self, backend: Backend, unique: str
    ) -> None:
        forms = self.forms(backend)
        forms.create(
            unique,
            SessionInput(
                uuid="s1", unit_id="u", data={"pic": Upload("a", "x/y", b"first")}
            ),
        )
        old_id = forms.get(unique, "s1").data["pic"].id
        forms.update(
            unique, "s1", SessionInput(data={"pic": Upload("b", "x/y", b"second")})
        )
        assert list(backend.forms.attachment_chunks(unique, "s1", "pic", old_id)) == []
        _, chunks = forms.attachment(unique, "s1", "pic")
        assert b"".join(chunks) == b"second"
        new_id = forms.get(unique, "s1").data["pic"].id
        forms.create(
            unique, SessionInput(uuid="s1", unit_id="u", data={"other": "x"})
        )  # replace
        assert list(backend.forms.attachment_chunks(unique, "s1", "pic", new_id)) == []
        assert forms.get(unique, "s1").data == {"other": "x"}

    def test_listing_by_saved_unit_and_deleted(
        self, backend: Backend, unique: str
    ) -> None:
        forms = self.forms(backend)
        for i in range(5):
            forms.create(
                unique, SessionInput(uuid=f"s{i}", unit_id=f"u{i % 2}", saved=100 + i)
            )
        forms.delete(unique, "s2")
        forms.update(unique, "s4", SessionInput(saved=50))  # moves to the front
        assert [s.uuid for s in forms.find(unique)] == ["s4", "s0", "s1", "s3"]
        assert [s.uuid for s in forms.find(unique, include_deleted=True)] == [
            "s4",
            "s0",
            "s1",
            "s2",
            "s3",
        ]
        assert [s.uuid for s in forms.find(unique, unit_id="u0")] == ["s4", "s0"]
        assert [s.uuid for s in forms.find(unique, saved_from=101, saved_to=103)] == [
            "s1",
            "s3",
        ]
        assert [s.uuid for s in forms.find(unique, limit=2, after=(100, "s0"))] == [
            "s1",
            "s3",
        ]
        assert forms.find(unique + "-other") == []

    def test_devices(self, backend: Backend, unique: str) -> None:
        forms = self.forms(backend)
        for i, unit in enumerate(["a", "a", "b"]):
            forms.create(unique, SessionInput(uuid=f"s{i}", unit_id=unit))
        forms.delete(unique, "s1")
        assert [(d.unit_id, d.session_count) for d in forms.devices(unique)] == [
            ("a", 1),
            ("b", 1),
        ]
        assert forms.device(unique, "b").session_count == 1
