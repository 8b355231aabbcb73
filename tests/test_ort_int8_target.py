"""The ONNX Runtime int8 recipe follows the target CPU: u8s8 saturates on x86 without VNNI.

Flag lines below are copied verbatim from published /proc/cpuinfo (or ``lscpu``) output; each
fixture names its source. Only the lines the detection reads are kept.
"""

from __future__ import annotations

import json

import pytest

from edgebench_onnxruntime.int8_target import (
    CPUINFO_ENV,
    RECIPE_ENV,
    RECIPES,
    choose_int8_recipe,
    cpu_arch,
    cpu_flags,
    cpu_has_int8_dot,
    recipe_for_cpu,
)

# Haswell, Intel Core i7-4800MQ (AVX2, no VNNI): RedHatInsights/insights-core, ONE_SOCKET_CPUINFO in
# https://github.com/RedHatInsights/insights-core/blob/15936cc97fc6cd80467a2def704c8f3dcf51b7ad/insights/parsers/tests/test_cpuinfo.py
HASWELL = (
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: Intel(R) Core(TM) i7-4800MQ CPU @ 2.70GHz\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr "
    "sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon pebs bts rep_good nopl xtopology "
    "nonstop_tsc aperfmperf eagerfpu pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 fma cx16 xtpr pdcm "
    "pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm ida arat epb "
    "pln pts dtherm tpr_shadow vnmi flexpriority ept vpid fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid "
    "xsaveopt\n"
)

# Cascade Lake, Intel Xeon Platinum 8268 (avx512_vnni), lscpu on Princeton's Stellar, and AMD EPYC 7H12
# (Zen 2, AVX2 without VNNI) on its GPU nodes:
# https://github.com/jdh4/job_data_2023/blob/b58631acf376791783a72e5b9f5e7bf8a4643ecd/README.md
CASCADE_LAKE_LSCPU = (
    "Vendor ID:           GenuineIntel\n"
    "Model name:          Intel(R) Xeon(R) Platinum 8268 CPU @ 2.90GHz\n"
    "Flags:               fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi "
    "mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good "
    "nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl smx est tm2 ssse3 sdbg fma cx16 "
    "xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm "
    "3dnowprefetch cpuid_fault epb cat_l3 cdp_l3 invpcid_single intel_ppin ssbd mba ibrs ibpb stibp ibrs_enhanced "
    "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt "
    "clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total "
    "cqm_mbm_local dtherm ida arat pln pts pku ospke avx512_vnni md_clear flush_l1d arch_capabilities\n"
)
ZEN2_EPYC_LSCPU = (
    "Vendor ID:           AuthenticAMD\n"
    "Model name:          AMD EPYC 7H12 64-Core Processor\n"
    "Flags:               fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
    "sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid "
    "extd_apicid aperfmperf pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx "
    "f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt "
    "tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 cdp_l3 hw_pstate ssbd mba ibrs ibpb "
    "stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 cqm rdt_a rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec "
    "xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf xsaveerptr wbnoinvd amd_ppin arat "
    "npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists pausefilter pfthreshold avic "
    "v_vmsave_vmload vgif v_spec_ctrl umip rdpid overflow_recov succor smca sme sev sev_es\n"
)

# From ollama's /proc/cpuinfo test cases (issues #5554, #7359, #7287): AMD EPYC 9754 (Zen 4c, avx512_vnni),
# AMD Ryzen 3 4100 (Zen 2, no VNNI), Intel Xeon Gold 6326 (Ice Lake, avx512_vnni):
# https://github.com/ollama/ollama/blob/f63eea3d273816ffc27fbeb0662ab44d236abc45/discover/cpu_linux_test.go
ZEN4_EPYC = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9754 128-Core Processor\n"
    "flags\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht "
    "syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm rep_good nopl cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 "
    "fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm "
    "cmp_legacy svm cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw perfctr_core invpcid_single ssbd ibrs ibpb "
    "stibp ibrs_enhanced vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx "
    "smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 "
    "clzero xsaveerptr wbnoinvd arat npt lbrv nrip_save tsc_scale vmcb_clean flushbyasid pausefilter pfthreshold "
    "v_vmsave_vmload vgif avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg "
    "avx512_vpopcntdq la57 rdpid fsrm flush_l1d arch_capabilities\n"
)
ZEN2_RYZEN = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD Ryzen 3 4100 4-Core Processor\n"
    "flags\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht "
    "syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl tsc_reliable nonstop_tsc cpuid "
    "extd_apicid aperfmperf pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand "
    "hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext ssbd ibrs ibpb stibp "
    "vmmcall fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero "
    "xsaveerptr rdpru arat umip rdpid\n"
)
ICE_LAKE = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6326 CPU @ 2.90GHz\n"
    "flags\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss "
    "syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon rep_good nopl xtopology tsc_reliable nonstop_tsc cpuid "
    "tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave "
    "avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase "
    "tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd "
    "sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves wbnoinvd arat avx512vbmi umip pku ospke avx512_vbmi2 "
    "gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm md_clear flush_l1d arch_capabilities\n"
)

# Alder Lake, Intel Core i7-12700K (AVX-VNNI, no AVX-512), lscpu:
# https://github.com/CTGS-Innovations/docling/blob/5b1414febf1e236c5f68c24401d44173f95238fd/cli/info/lscpu.md
ALDER_LAKE_LSCPU = (
    "Vendor ID:                            GenuineIntel\n"
    "Model name:                           12th Gen Intel(R) Core(TM) i7-12700K\n"
    "Flags:                                fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid "
    "tsc_known_freq pni pclmulqdq vmx ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave "
    "avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch cpuid_fault ssbd ibrs ibpb stibp ibrs_enhanced tpr_shadow "
    "flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt "
    "clwb sha_ni xsaveopt xsavec xgetbv1 xsaves avx_vnni arat vnmi umip pku ospke waitpkg gfni vaes vpclmulqdq rdpid "
    "movdiri movdir64b fsrm md_clear serialize flush_l1d arch_capabilities\n"
)

# Pixel 8 (Tensor G3: Cortex-X3/A715/A510, asimddp) and Pixel 2 XL (Snapdragon 835, no dot product), from
# PyTorch cpuinfo's mock filesystems:
# https://github.com/pytorch/cpuinfo/blob/eb966b37a07143bc88ace7108742b3fe4a388770/test/mock/pixel-8.h
# https://github.com/pytorch/cpuinfo/blob/42bff7ad39de3eb520cb20ab27f51ed816935edc/test/mock/pixel-2-xl.h
PIXEL_8 = (
    "processor\t: 0\n"
    "BogoMIPS\t: 49.15\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc "
    "dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes "
    "svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bti\n"
    "CPU implementer\t: 0x41\n"
    "CPU architecture: 8\n"
    "CPU variant\t: 0x1\n"
    "CPU part\t: 0xd46\n"
)
PIXEL_2_XL = (
    "Processor\t: AArch64 Processor rev 1 (aarch64)\n"
    "processor\t: 0\n"
    "BogoMIPS\t: 38.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"
    "CPU implementer\t: 0x51\n"
    "CPU architecture: 8\n"
    "CPU variant\t: 0xa\n"
    "CPU part\t: 0x801\n"
)
# Raspberry Pi 2 (BCM2709, Cortex-A7, 32-bit): ARM_CPUINFO in the insights-core file above
RPI2_ARMV7 = (
    "processor       : 0\n"
    "model name      : ARMv7 Processor rev 5 (v7l)\n"
    "BogoMIPS        : 38.40\n"
    "Features        : half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm\n"
    "CPU implementer : 0x41\n"
    "CPU architecture: 7\n"
    "CPU part        : 0xc07\n"
    "Hardware        : BCM2709\n"
)

CPUS = {
    # name: (text, arch, has int8 dot product, default recipe)
    "haswell-i7-4800mq": (HASWELL, "x86", False, "u8s8-precise"),
    "cascade-lake-platinum-8268": (CASCADE_LAKE_LSCPU, "x86", True, "u8s8"),
    "ice-lake-gold-6326": (ICE_LAKE, "x86", True, "u8s8"),
    "alder-lake-i7-12700k": (ALDER_LAKE_LSCPU, "x86", True, "u8s8"),
    "zen2-epyc-7h12": (ZEN2_EPYC_LSCPU, "x86", False, "u8s8-precise"),
    "zen2-ryzen-3-4100": (ZEN2_RYZEN, "x86", False, "u8s8-precise"),
    "zen4-epyc-9754": (ZEN4_EPYC, "x86", True, "u8s8"),
    "pixel-8-arm64": (PIXEL_8, "arm", True, "u8s8"),
    "pixel-2-xl-arm64": (PIXEL_2_XL, "arm", False, "u8s8"),
    "rpi2-armv7": (RPI2_ARMV7, "arm", False, "u8s8"),
}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RECIPE_ENV, raising=False)
    monkeypatch.delenv(CPUINFO_ENV, raising=False)


@pytest.mark.parametrize("name", sorted(CPUS))
def test_int8_dot_product_and_recipe_are_read_from_real_cpuinfo(name: str) -> None:
    text, arch, dot, recipe = CPUS[name]
    assert cpu_arch(text) == arch
    assert cpu_has_int8_dot(text) is dot
    choice = recipe_for_cpu(text)
    assert choice.recipe.name == recipe
    if recipe == "u8s8-precise":  # the recipe that cannot saturate asks onnxruntime for its u8u8 kernels
        assert choice.recipe.session_options == {"session.x64quantprecision": "1"}
        assert "without VNNI" in choice.reason and "no avx512_vnni/avx_vnni" in choice.cpu
    else:
        assert choice.recipe.session_options == {}


def test_the_flag_check_takes_a_bare_flag_line_and_needs_every_cpu_to_have_the_flag() -> None:
    bare = HASWELL.split("flags\t\t: ")[1]  # the flags value alone
    assert not cpu_has_int8_dot(bare) and cpu_has_int8_dot(bare + " avx512_vnni")
    # AVX-512 without VNNI (Skylake-SP: the Cascade Lake line less avx512_vnni) still saturates
    skylake_sp = CASCADE_LAKE_LSCPU.replace(" avx512_vnni", "")
    assert {"avx512f", "avx512bw", "avx512vl"} <= cpu_flags(skylake_sp) and not cpu_has_int8_dot(skylake_sp)
    assert recipe_for_cpu(skylake_sp).recipe.name == "u8s8-precise"
    # a thread may run on any core: a flag only some cores list does not count (two Pixel 8 cores
    # with one core's asimddp removed)
    mixed = PIXEL_8 + "\n" + PIXEL_8.replace("processor\t: 0", "processor\t: 1").replace(" asimddp", "")
    assert not cpu_has_int8_dot(mixed)
    assert cpu_flags("vendor_id\t: GenuineIntel\n") == frozenset()  # cpuinfo without a flags line: nothing


def test_the_machine_name_decides_when_there_is_no_cpuinfo() -> None:
    # macOS and Windows have no /proc/cpuinfo: ARM is safe with u8s8, x86 gets the recipe exact everywhere
    assert recipe_for_cpu("", "arm64").recipe.name == "u8s8"
    assert recipe_for_cpu("", "AMD64").recipe.name == "u8s8-precise"
    assert recipe_for_cpu("", "").recipe.name == "u8s8-precise"


def test_overrides_force_a_recipe_or_read_a_target_cpuinfo(tmp_path) -> None:
    target = tmp_path / "cpuinfo"
    target.write_text(CASCADE_LAKE_LSCPU)
    choice = choose_int8_recipe({CPUINFO_ENV: str(target)})
    assert choice.recipe.name == "u8s8" and choice.chosen_by == f"{CPUINFO_ENV}={target}"
    assert "Platinum 8268" in choice.cpu
    forced = choose_int8_recipe({RECIPE_ENV: "u8s8-reduce-range", CPUINFO_ENV: str(target)})
    assert forced.recipe.reduce_range and forced.chosen_by == f"{RECIPE_ENV}=u8s8-reduce-range"
    assert choose_int8_recipe({RECIPE_ENV: "auto", CPUINFO_ENV: str(target)}).recipe.name == "u8s8"
    with pytest.raises(ValueError, match="choose from auto, u8s8, u8s8-precise"):
        choose_int8_recipe({RECIPE_ENV: "u7s7"})
    with pytest.raises(ValueError, match="cannot be read"):
        choose_int8_recipe({CPUINFO_ENV: str(tmp_path / "missing")})


def test_the_cache_key_differs_between_recipes_and_a_bad_setting_fails_in_one_line(monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from edgebench.errors import ExportError
    from edgebench.plugins import backends

    backend = backends.get("onnxruntime")
    keys = set()
    for name in RECIPES:
        monkeypatch.setenv(RECIPE_ENV, name)
        keys.add(backend.cache_key())
    assert len(keys) == len(RECIPES)
    monkeypatch.setenv(RECIPE_ENV, "bogus")
    with pytest.raises(ExportError, match=f"{RECIPE_ENV}='bogus'"):
        backend.cache_key()


# -- the artifact and the accuracy, through the real cache and harness ----------------------------
MODELS = ("abpn", "scsrn")
MAX_DROP_DB = 0.15


def _host_recipe() -> str:
    return choose_int8_recipe({}).recipe.name


@pytest.fixture(scope="module")
def measured() -> dict[tuple[str, str], float]:
    """RGB PSNR of abpn and scsrn, fp32 and int8 (this host's recipe, and the non-VNNI recipe where
    this host has VNNI), on the 4 bundled eval photos through the harness. Cached artifacts make
    reruns quick."""
    pytest.importorskip("onnxruntime")
    from edgebench.testing import measure_one

    recipes = sorted({_host_recipe(), "u8s8-precise"})
    psnr: dict[tuple[str, str], float] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(CPUINFO_ENV, raising=False)
        for model in MODELS:
            mp.delenv(RECIPE_ENV, raising=False)
            psnr[(model, "fp32")] = measure_one(model, "onnxruntime", "fp32", quality_images=4, runs=2)["psnr"]
            for recipe in recipes:
                mp.setenv(RECIPE_ENV, recipe)
                row = measure_one(model, "onnxruntime", "int8", quality_images=4, runs=2)
                assert row["runtime"]["int8_recipe"] == recipe
                assert row["runtime"]["session_config"] == dict(RECIPES[recipe].session_options)
                psnr[(model, recipe)] = row["psnr"]
    return psnr


@pytest.mark.parametrize("model", MODELS)
def test_int8_drop_stays_within_the_target_with_this_hosts_recipe(measured, model: str) -> None:
    for recipe in sorted({_host_recipe(), "u8s8-precise"}):
        drop = measured[(model, "fp32")] - measured[(model, recipe)]
        assert drop <= MAX_DROP_DB, f"{model} int8 ({recipe}) loses {drop:.3f} dB"


def test_the_artifact_records_its_recipe_and_differs_in_bytes(tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    import onnx

    from edgebench.artifacts import ArtifactCache
    from edgebench.plugins import backends
    from edgebench.testing import tiny_model

    cache, backend = ArtifactCache(tmp_path / "cache"), backends.get("onnxruntime")
    spec = tiny_model("tiny-int8-recipe")
    shas = {}
    for name in ("u8s8", "u8s8-precise"):  # same quantization, different load-time settings
        monkeypatch.setenv(RECIPE_ENV, name)
        artifact = cache.get(spec, backend, "int8")
        recorded = artifact.meta["int8_recipe"]
        assert recorded["name"] == name and recorded["chosen_by"] == f"{RECIPE_ENV}={name}"
        assert recorded["session_options"] == dict(RECIPES[name].session_options)
        assert artifact.meta["quantization"].startswith("static QDQ, per-channel s8 weights, u8 activations")
        stamp = {p.key: p.value for p in onnx.load(str(artifact.path)).metadata_props}["edgebench.int8_recipe"]
        assert json.loads(stamp)["name"] == name
        shas[name] = artifact.meta["sha256"]
    assert shas["u8s8"] != shas["u8s8-precise"]  # results of the two never pass for one artifact
