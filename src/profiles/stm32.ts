/**
 * The STM32 profiles: the memory maps and fuse sizes the virtual STM32MP15 (`stm32mp1`) and
 * STM32L552 (`stm32l5`) are built from (RM0436, RM0438).
 * @module
 */

/** Profile `stm32mp1`: the STM32MP15's BSEC and boot memories. */
export const STM32MP1 = {
  name: 'stm32mp1',
  description: 'STM32MP15 (ROM, FSBL, BSEC, ETZPC, TZC-400, TAMP)',
  /** BSEC OTP words, and how many of them are the lower (bitwise-programmable) ones. */
  bsec: { words: 96, lowerWords: 32 },
} as const;

/** Profile `stm32l5`: the STM32L552's flash, SRAM2, backup registers and OCTOSPI window. */
export const STM32L5 = {
  name: 'stm32l5',
  description: 'STM32L552 (option bytes, RDP, HDP, RSSLIB, SFI, OTFDEC)',
  flash: { size: 0x80000, pageSize: 0x800, pagesPerBank: 128, nsBase: 0x08000000, sBase: 0x0c000000, erased: 0xff },
  sram2Size: 0x10000,
  /** External flash behind OCTOSPI1, memory-mapped. */
  external: { base: 0x90000000, size: 0x100000 },
  backupRegisters: 32,
} as const;
