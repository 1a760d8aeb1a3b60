"""The admin shows clones, streams and segments as evidence, and never changes them."""
from django.urls import reverse

from tests.factories import UserFactory


def test_admin_lists_rendering_records_read_only(client, ready_clone):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    for model in ("clone", "stream", "segment"):
        assert client.get(reverse(f"admin:rendering_{model}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:rendering_{model}_add")).status_code == 403
    page = client.get(reverse("admin:rendering_clone_change", args=[ready_clone.pk]))
    assert page.status_code == 200 and ready_clone.sha256 in page.content.decode()
    assert client.post(reverse("admin:rendering_clone_delete", args=[ready_clone.pk]), {"post": "yes"}).status_code == 403
