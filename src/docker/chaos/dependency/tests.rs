use super::*;

const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0B00007F:A1B2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 020011AC:1538 030011AC:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
   3: 020011AC:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
";
const TCP6: &str =
    "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0
   2: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A 0
   3: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 0
";

#[test]
fn listening_ports_skip_loopback_and_connections() {
    // 5432 (twice), 9092 and 8080 listen beyond loopback; 127.0.0.11:41394,
    // ::1:80 and ::ffff:127.0.0.1:81 do not count, nor an established socket.
    assert_eq!(parse_listening(&[TCP, TCP6]), vec![5432, 8080, 9092]);
    assert!(parse_listening(&["", "garbage\nx y z"]).is_empty());
}

#[test]
fn redirect_rules_carry_the_fault_id() {
    let r = redirect(&["!", "-i", "lo"], "tcp", 5432, "x-1", 40000);
    assert_eq!(
        r.join(" "),
        "! -i lo -p tcp --dport 5432 -m comment --comment x-1 -j REDIRECT --to-ports 40000"
    );
}
