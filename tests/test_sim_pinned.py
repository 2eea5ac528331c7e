"""KuaiLive-Sim 1's output, pinned: the tiny preset with seed 7 writes exactly these files, byte for byte.

The simulator's code may be reshaped (issue 17: stages a newcomer reads one at a time) but, until a mechanism
deliberately changes and the version moves on (`kuailive-sim-2`), not one byte of its release or oracle may.
The hashes hold for the pinned environment (constraints.txt: numpy, pyarrow write the same bytes).
"""

from __future__ import annotations

from benchmark.sim import simulate
from benchmark.sim.model import VERSION
from tests.test_sim_determinism import digests

SIM1_TINY_SEED7 = {
    "KuaiLive/click.csv":
        "ca42f8890c99d455a2beb0a288ec124019c616f954fdb732f18e6c8abd9edb58",
    "KuaiLive/comment.csv":
        "7be05cc7e20e47d271261643e1b97ac38e8f2fd27c8c811a6850907ae216af57",
    "KuaiLive/gift.csv":
        "79620dc8f853df7417be2dbfb72035dc7130314271f2f866c94817daf9e214c0",
    "KuaiLive/like.csv":
        "c4edfc6420adcdab6eb3e2540fde5f04c8dd8f5e3571ff7468c044f4779e17d2",
    "KuaiLive/negative.csv":
        "4cd3c076b20bf52f29ac8f9d086c67b92dd3702f0521f71d0b076ef152d43ea0",
    "KuaiLive/room.csv":
        "c72e3513da3e8aae24ee28c45c4dd55fdf10b7300c1c5605f04d847d9ddc6d34",
    "KuaiLive/streamer.csv":
        "99ad1b1370aff28b3a8f6e2b055c67ad7bc38646b2aa75f7685cad362f94eb13",
    "KuaiLive/title_embeddings.npy":
        "9bf98fbda856e6d18da136f5db341d9a6217f6c45e1d87a673f3a2d24efbd1b1",
    "KuaiLive/user.csv":
        "8742aaffe763a579ff2a4db55a5e2ec568fc072558d4cf7955440addfeb1e173",
    "oracle/clicks.parquet":
        "b693da32171f0b7819046db1dcf606f91d9492131690386a4b186f3fb6f81ce9",
    "oracle/exposures.parquet":
        "0d5beb50feb197c281f684842783ceaaaab39cee9fc77f42849d79329c65e22e",
    "oracle/latent/favourites.parquet":
        "66a05014bd4f5c3ee84717372c483ac322dd6598ebc80ea5f693fbd1354a4eed",
    "oracle/latent/highlights.parquet":
        "a62b22f54c3d6e4eb2e605f7e0832e8dcb85dc61de954876891701623f3c2a5e",
    "oracle/latent/params.json":
        "641f3c145d59938c64c08e6a3635252f535f3c0c89df38bceec39755f0bc9e14",
    "oracle/latent/rooms.parquet":
        "22319fdec6bef841361892a0d10ac1afec68f1235463bcb086c49e92de8f028f",
    "oracle/latent/streamer_factors.npy":
        "63c1a608fa1a406092a8c41510bdd80cdc3de08ac0c4ed234d4e8f625bff75c1",
    "oracle/latent/streamers.parquet":
        "f1f55dde03238f81c40e1a5b7da09adf1d42590264ec7fe8df1c54c06037fa1e",
    "oracle/latent/user_factors.npy":
        "48e7e2d4bcc0926db3106b82aafff45f1039204891c86738f8340985fd1f132d",
    "oracle/latent/users.parquet":
        "380a0d38f66cee797e9f075f69df070b0c17aec450ddd42e1381a41cd2b198f7",
}


def test_sim1_tiny_output_is_byte_identical_to_the_pinned_hashes(tmp_path):
    assert VERSION == "kuailive-sim-1", "a new simulator version pins its own hashes"
    got = digests(simulate("tiny", 7, tmp_path, quiet=True))
    changed = sorted(k for k in SIM1_TINY_SEED7 if got.get(k) != SIM1_TINY_SEED7[k])
    assert set(got) == set(SIM1_TINY_SEED7) and not changed, f"files that moved: {changed}"
