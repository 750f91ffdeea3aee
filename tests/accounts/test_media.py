"""Uploaded media is served to team members only."""

from __future__ import annotations


def test_media_is_served_to_roles_and_refused_to_others(annotator_client, outsider_client, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "guidelines").mkdir()
    (tmp_path / "guidelines" / "cat.png").write_bytes(b"\x89PNG fake")

    response = annotator_client.get("/media/guidelines/cat.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG fake"
    assert "max-age" in response["Cache-Control"]

    assert outsider_client.get("/media/guidelines/cat.png").status_code == 403
    assert client.get("/media/guidelines/cat.png").status_code == 302
    (tmp_path.parent / "secret.txt").write_text("not yours")
    assert annotator_client.get("/media/../secret.txt").status_code in (400, 404)
