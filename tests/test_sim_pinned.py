"""KuaiLive-Sim's output, pinned: the tiny preset with seed 7 writes exactly these files, byte for byte.

kuailive-sim-2 added five mechanisms, each behind a switch, and recalibrated seven values; with all five off
and those values back (presets.SIM1_OVERRIDES) the model is sim-1, and not one byte of its release or oracle
moved (its params.json now also names the new parameters, so that file is left out, and the oracle gained
feed_mass.npy, a file sim-1 never wrote). Version 2's own files
are pinned too. The hashes hold for the pinned environment (constraints.txt: numpy, pyarrow write the same
bytes); a deliberate change to the model is a new version with its own pins.
"""

from __future__ import annotations

from benchmark.sim import simulate
from benchmark.sim.model import SIM1, version
from benchmark.sim.presets import SIM1_OVERRIDES, get_params
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
    assert version(get_params("tiny", SIM1_OVERRIDES)) == SIM1
    got = digests(simulate("tiny", 7, tmp_path, overrides=SIM1_OVERRIDES, quiet=True))
    got.pop("oracle/latent/params.json")
    got.pop("oracle/latent/feed_mass.npy")  # the feed's mass per slot, added to the oracle for topk's ceiling
    changed = sorted(k for k in SIM1_TINY_SEED7 if got.get(k) != SIM1_TINY_SEED7[k])
    assert set(got) == set(SIM1_TINY_SEED7) and not changed, f"files that moved: {changed}"


SIM2_TINY_SEED7 = {
    "oracle/latent/feed_mass.npy":
        "d2a26eff2f38ed1fe9f887fa2ba2f7d12b4f04c68cd27461f60599f432ffbf93",
    "oracle/latent/titles.parquet":
        "f374539b1c91e4748e69283edfa2718d443fe41ae5b3738d14fa162dd8426612",
    "KuaiLive/click.csv":
        "0b5cd20486d24cd928ce6234ed85272a335714bc0d4106f8a868ff68083ee1d6",
    "KuaiLive/comment.csv":
        "98995db5d0672b88c0727c233e1d5fb9b90c8388325f4ce0bf7d7ef01630ff52",
    "KuaiLive/gift.csv":
        "40eeb5d6171a58c3d60001caceea65c845e8a3eec846977cfff97781242dd617",
    "KuaiLive/like.csv":
        "a590f641c7d231232dcb6d25d4d7aa42ba24dbd7c97253f99426ee453d452a25",
    "KuaiLive/negative.csv":
        "70cd191cf621445c44709b49858d9225834ed46e27a59c1a9839ca1706674d34",
    "KuaiLive/room.csv":
        "1f9764c67fade0edbe06c7179497fadc05c50ac6e7eba98332498dc455a4d33f",
    "KuaiLive/streamer.csv":
        "cb47c1efda0fca0973d8a733d9f762331ecb3e081f3263044f769525c3c267fc",
    "KuaiLive/title_embeddings.npy":
        "55c7bd6f691d1aaa940da6e23d7b002968cd32fe1b3a4ac4bb2f65e5ae74b926",
    "KuaiLive/user.csv":
        "38b8f6782486bd2f108b859468800f3cddbf38deb44d003d8150197c4636f2ac",
    "oracle/clicks.parquet":
        "6e92091ca1e7a48bd5cfc34c29aefbe713f8d484f8745a460fdac0613c84ac7e",
    "oracle/exposures.parquet":
        "411f48e83adbcebdea93b95621689f42645c93d26ffb76d47c20f9af5b68cb82",
    "oracle/latent/favourites.parquet":
        "1f9c541d1bb97ccab3824885dc57f9864bd5da111b4ef440591236af70b707ef",
    "oracle/latent/highlights.parquet":
        "69f57b33336f67762f898dadce8ae8c573a8d36de0417f9c46b33f80dff5a83a",
    "oracle/latent/params.json":
        "8d42973ad9bfb1c6e977acec6db93ae42c39414628df4fc59ec060767cb24484",
    "oracle/latent/rooms.parquet":
        "bf0aab1c5814d005a69611bd1556ce571371aac4be9653956b6d3d3b446f061a",
    "oracle/latent/segments.parquet":
        "9e40603c74718ed41965af5565548e595f52669e4328a3b3c442bb6af3aa0ef2",
    "oracle/latent/streamer_factors.npy":
        "63c1a608fa1a406092a8c41510bdd80cdc3de08ac0c4ed234d4e8f625bff75c1",
    "oracle/latent/streamers.parquet":
        "f1f55dde03238f81c40e1a5b7da09adf1d42590264ec7fe8df1c54c06037fa1e",
    "oracle/latent/topic_factors.npy":
        "903f379d7d1e7c8bf9960dd4dfe5d77553b8f891224dc6df0eee15ed118a8b56",
    "oracle/latent/user_factors.npy":
        "bf680abc12425cdef735e5e53b8eb43d7de917adfe3a1d8ca7c5ad3a97c8b046",
    "oracle/latent/users.parquet":
        "9b2075c0048ce8724fd028a0719802219abb098d5a2de56d45f87b4fd477df86",
}


def test_sim2_tiny_output_is_pinned(tmp_path):
    """Version 2's own output, pinned the same way: reshaping the code must not move a byte of it either."""
    assert version(get_params("tiny")) == "kuailive-sim-2"
    got = digests(simulate("tiny", 7, tmp_path, quiet=True))
    changed = sorted(k for k in SIM2_TINY_SEED7 if got.get(k) != SIM2_TINY_SEED7[k])
    assert set(got) == set(SIM2_TINY_SEED7) and not changed, f"files that moved: {changed}"
