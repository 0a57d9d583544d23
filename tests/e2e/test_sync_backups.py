"""The editors' backups never leave this machine: ``cf sync`` skips ``.cf-backup``.

Older versions kept the previous ``.env`` (old passwords) in ``.cf-backup/``
inside the stack folder. On hosts that share no storage (``PrivateFarm``), a
sync, even with ``--delete``, neither sends such a folder nor removes one a
host already has, and ``cf check`` does not call it drift. Read from the
host's own copy of the folder.
"""

from __future__ import annotations

import pytest

from tests.support.cf import ok
from tests.support.privatefarm import PrivateFarm

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=("h1", "h2"), kind=PrivateFarm)]

OLD_ENV = ".cf-backup/.env.20240101-000000.00000000000000000001"


def test_a_legacy_backup_folder_is_never_sent_nor_reported(farm: PrivateFarm) -> None:
    files = {".env": "SECRET=new\n", OLD_ENV: "SECRET=old\n", "sub/.cf-backup/x": "old\n"}
    stack = farm.stack("bak", "h2", files=files)
    farm.on_host("h2", stack, ".cf-backup").mkdir(parents=True)
    farm.on_host("h2", stack, ".cf-backup/mine").write_text("the host's own\n")

    done = ok(farm.cf("sync", stack, "--delete"))
    check = ok(farm.cf("check"))

    assert farm.read("h2", stack, ".env") == "SECRET=new\n", done
    assert farm.exists("h2", stack, "sub"), done
    assert not farm.exists("h2", stack, OLD_ENV), done
    assert not farm.exists("h2", stack, "sub/.cf-backup"), done
    assert farm.read("h2", stack, ".cf-backup/mine") == "the host's own\n", done
    assert ".cf-backup" not in check.output, check
