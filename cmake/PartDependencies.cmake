# The dependency rules between the parts, in one place (shared by the configure-time check of
# the library targets and the PartDependencies test of the #include lines).
#
# SSMSOC_PART_<part>: the parts whose headers <part> may include and whose targets it may
# link. A part is a folder (arch/spec is the folder arch/spec/); targets map to parts below.
set(SSMSOC_PARTS arch/spec arch/numerics arch/golden arch/hf firmware sim compiler host rtl reports cli)
set(SSMSOC_PART_arch/spec)
set(SSMSOC_PART_arch/numerics arch/spec)
set(SSMSOC_PART_arch/golden arch/spec arch/numerics)
set(SSMSOC_PART_arch/hf arch/spec arch/numerics arch/golden)
set(SSMSOC_PART_firmware arch/spec)
set(SSMSOC_PART_sim arch/spec arch/numerics arch/golden firmware)
set(SSMSOC_PART_compiler arch/spec)
set(SSMSOC_PART_host arch/spec arch/numerics arch/golden arch/hf firmware sim compiler)
set(SSMSOC_PART_rtl arch/spec arch/numerics arch/golden)
set(SSMSOC_PART_reports arch/spec host)
set(SSMSOC_PART_cli ${SSMSOC_PARTS})

# The library target of each part (the parts without one have none yet).
set(SSMSOC_TARGET_ssmsoc_arch_spec arch/spec)
set(SSMSOC_TARGET_ssmsoc_arch_numerics arch/numerics)
set(SSMSOC_TARGET_ssmsoc_arch_golden arch/golden)
set(SSMSOC_TARGET_ssmsoc_arch_hf arch/hf)
set(SSMSOC_TARGET_ssmsoc_firmware firmware)
set(SSMSOC_TARGET_ssmsoc_sim sim)
set(SSMSOC_TARGET_ssmsoc_compiler compiler)
set(SSMSOC_TARGET_ssmsoc_host host)
set(SSMSOC_TARGET_ssmsoc_reports reports)
set(SSMSOC_TARGET_ssmsoc_rtl_scan_unit rtl)
set(SSMSOC_TARGET_ssmsoc CLI)
