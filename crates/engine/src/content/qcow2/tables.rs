//! Validation of the qcow2 L1 and L2 tables when they are first read: a crafted or
//! corrupt image is refused with a reason instead of being hashed wrong.

use std::io;

use super::header::Header;
use super::{corrupt, Qcow2Layer, L2_COMPRESSED, L2_ZERO, OFFSET_MASK};

impl Qcow2Layer {
    /// Checks every L2 table the L1 table points to: on a cluster boundary, inside the
    /// file, clear of the header and the L1 table, and not shared. Returns the sorted
    /// metadata clusters.
    pub(super) fn check_l1(
        &self,
        header: &Header,
        file_len: u64,
        cluster_size: u64,
    ) -> Result<Vec<u64>, String> {
        let mut metadata = vec![0];
        let l1_end = header.l1_offset + header.l1_entries * 8;
        metadata.extend((header.l1_offset..l1_end).step_by(cluster_size as usize));
        let refcount_end = header
            .refcount_table_offset
            .saturating_add(header.refcount_table_clusters.saturating_mul(cluster_size))
            .min(file_len);
        if header.refcount_table_offset % cluster_size == 0 {
            metadata.extend(
                (header.refcount_table_offset..refcount_end).step_by(cluster_size as usize),
            );
        }
        let mut tables = Vec::new();
        for (index, &entry) in self.l1.iter().enumerate() {
            let table = entry & OFFSET_MASK;
            if table == 0 {
                continue;
            }
            if table % cluster_size != 0 || table + cluster_size > file_len {
                return Err(format!(
                    "L1 entry {index} points to an L2 table at offset {table}, past the end \
                     of the file ({file_len} bytes) or off a cluster boundary"
                ));
            }
            if table < cluster_size || (header.l1_offset..l1_end).contains(&table) {
                return Err(format!(
                    "L1 entry {index} points to an L2 table at offset {table}, which \
                     overlaps the header or the L1 table"
                ));
            }
            tables.push(table);
        }
        tables.sort_unstable();
        if let Some(pair) = tables.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two L1 entries point to the same L2 table at offset {}: overlapping metadata",
                pair[0]
            ));
        }
        metadata.extend(tables);
        metadata.sort_unstable();
        metadata.dedup();
        Ok(metadata)
    }

    /// Checks that every cluster an L2 table maps lies inside its file, on a cluster
    /// boundary, and clear of the metadata.
    pub(super) fn check_l2(&self, table_offset: u64, table: &[u64]) -> io::Result<()> {
        let step = if self.extended_l2 { 2 } else { 1 };
        let cluster_size = self.cluster_size();
        for (index, &entry) in table.iter().step_by(step).enumerate() {
            let fail = |what: String| {
                Err(corrupt(format!(
                    "L2 table at offset {table_offset}, entry {index}: {what}"
                )))
            };
            if entry & L2_COMPRESSED != 0 {
                let (offset, _) = self.compressed_location(entry);
                if self.files.len() > 1 {
                    return fail(
                        "compressed cluster in an image with an external data file".into(),
                    );
                }
                if offset >= self.files[0].len() {
                    return fail(format!(
                        "compressed cluster at offset {offset} lies past the end of the file \
                         ({} bytes)",
                        self.files[0].len()
                    ));
                }
                continue;
            }
            let Some(host) = self.host_cluster(entry) else {
                continue;
            };
            if self.zero_flag && !self.extended_l2 && entry & L2_ZERO != 0 {
                continue;
            }
            let file = &self.files[self.files.len() - 1];
            if host % cluster_size != 0 {
                return fail(format!(
                    "data cluster offset {host} is not a cluster boundary"
                ));
            }
            if host >= file.len() {
                return fail(format!(
                    "data cluster at offset {host} lies past the end of {} ({} bytes)",
                    file.describe(),
                    file.len()
                ));
            }
            if self.files.len() == 1 && self.metadata.binary_search(&host).is_ok() {
                return fail(format!(
                    "data cluster at offset {host} overlaps the image's metadata"
                ));
            }
        }
        Ok(())
    }
}
