//! How a memory slot of the pooling allocator is put back between hook calls, so that
//! nothing one call wrote reaches the next instance in that slot.

/// How a reused memory slot is cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotReset {
    /// Only the pages the last call wrote, found with PAGEMAP_SCAN (Linux 6.7+), up to
    /// 16 MiB of them restored in place: a Python or JavaScript plugin's heap image stays
    /// mapped instead of being unmapped and faulted in again on every call. The scan
    /// cannot see a written page the kernel has swapped out, which would then keep the last
    /// call's data for the next (wasmtime PR #14357), so it is used only where no swap is
    /// on.
    WrittenPages,
    /// Every page: the first 2 MiB zeroed in place, the rest unmapped, whatever the kernel
    /// did with them.
    WholeSlot,
}

impl SlotReset {
    /// What this machine allows: [`SlotReset::WrittenPages`] where `/proc/swaps` lists no
    /// swap (the kernel may still refuse it: see `Runtime::new`), else
    /// [`SlotReset::WholeSlot`]. Read once, when the runtime starts: swap turned on while
    /// `outreach serve` or `run` is running is not seen until it is started again (the
    /// README says so where it tells how to run the engine).
    pub fn for_this_machine() -> Self {
        let swap_on = std::fs::read_to_string("/proc/swaps")
            .map(|swaps| swaps_listed(&swaps))
            .unwrap_or(true);
        match swap_on {
            true => Self::WholeSlot,
            false => Self::WrittenPages,
        }
    }

    /// For people: `outreach doctor`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WrittenPages => {
                "the pages each call wrote are reset (PAGEMAP_SCAN; no swap is on)"
            }
            Self::WholeSlot => {
                "every page of a slot is reset (swap is on, or the kernel has no PAGEMAP_SCAN)"
            }
        }
    }
}

/// Whether `/proc/swaps` (a header line, then one line per swap area) lists any.
fn swaps_listed(swaps: &str) -> bool {
    swaps.lines().skip(1).any(|line| !line.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_swap_area_turns_the_written_pages_reset_off() {
        let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(!swaps_listed(header));
        assert!(!swaps_listed(""));
        assert!(swaps_listed(&format!(
            "{header}/swapfile                               file\t\t65532\t\t0\t\t-2\n"
        )));
        assert!(swaps_listed(&format!(
            "{header}/dev/zram0                              partition\t4194300\t\t0\t\t100\n"
        )));
    }
}
