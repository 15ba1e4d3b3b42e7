// XAFS: Larch's find_e0, pre_edge, autobk and transforms (filled in by the XAFS work).
export {};
