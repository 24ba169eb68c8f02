use super::*;

const HOST_ROOT: &str = "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
    23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n";
const SLAVE_ROOT: &str = "611 610 252:1 / / rw,relatime master:1 - ext4 /dev/vda1 rw\n\
    612 611 0:21 / /proc rw,nosuid master:12 - proc proc rw\n";

#[test]
fn a_shared_root_is_seen_and_a_slave_or_private_one_is_not() {
    assert!(root_is_shared(HOST_ROOT));
    assert!(!root_is_shared(SLAVE_ROOT));
    assert!(!root_is_shared(
        "5 1 252:1 / / rw,relatime - ext4 /dev/vda1 rw\n"
    ));
    // Only the root mount counts, and the last one stacked on `/` wins.
    let stacked = format!("{SLAVE_ROOT}700 611 0:50 / / rw shared:9 - tmpfs none rw\n");
    assert!(root_is_shared(&stacked));
    // A `shared:` after the separator is the filesystem's, not propagation.
    assert!(!root_is_shared("5 1 252:1 / / rw - ext4 shared:3 rw\n"));
    assert!(!root_is_shared(""));
}

#[test]
fn the_resolv_conf_names_only_the_responder_and_gives_up_fast() {
    let text = resolv_conf_text(SocketAddr::from(([127, 83, 0, 7], 53)));
    let servers: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    assert_eq!(servers, vec!["nameserver 127.83.0.7"]);
    assert!(text.contains("options timeout:1 attempts:1"), "{text}");
}

#[test]
fn our_own_process_shares_our_namespace_and_is_refused_with_the_reason() {
    let me = std::process::id();
    let e = check_instance(me, "self").unwrap_err();
    assert!(e.contains("shares the host's mount namespace"), "{e}");
    assert!(e.contains("runtime: docker"), "{e}");
}

#[tokio::test]
async fn a_process_gone_needs_no_unmount() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let p = ProcessRef::of_pid(child.id());
    child.wait().unwrap();
    assert_eq!(unmount(&p).await, Ok(false));
    assert_eq!(unmount_blocking(&p), Ok(false));
}
