//! Temporary: until admin::four_letter lands.
use crate::admin::stats::StatsSnapshot;
pub fn is_four_letter_word(w: &[u8; 4]) -> Option<&'static str> {
    [
        "ruok", "srvr", "stat", "mntr", "conf", "envi", "isro", "cons", "wchs", "wchc", "wchp",
        "dump", "dirs", "crst", "srst", "gtmk", "stmk", "hash",
    ]
    .into_iter()
    .find(|c| c.as_bytes() == w)
}
pub fn render(cmd: &str, snap: &StatsSnapshot, allowed: bool) -> String {
    if !allowed {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    match cmd {
        "ruok" => "imok".into(),
        _ => format!(
            "Zookeeper version: {}\nZxid: 0x{:x}\nMode: standalone\nNode count: {}\n",
            snap.version, snap.last_zxid, snap.node_count
        ),
    }
}
