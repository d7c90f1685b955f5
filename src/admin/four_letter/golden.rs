//! Output captured from Apache ZooKeeper 3.8.0 (Debian package, Java 17) on this machine:
//! standalone, `4lw.commands.whitelist=*`, two raw-socket clients (sessions
//! 0x1000003b73d0000/1) that each created `/x`, ephemerals `/x/e1` and `/x/e2`, and set
//! getData(/x), exists(/x/e1), getChildren(/x) and exists(/missing_x) watches; plus the
//! querying connection itself. Regenerate with `printf <word> | nc 127.0.0.1 <port>`.

pub const SRVR: &str = concat!(
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n",
    "Latency min/avg/max: 0/3.7778/17\n",
    "Received: 24\n",
    "Sent: 23\n",
    "Connections: 3\n",
    "Outstanding: 0\n",
    "Zxid: 0x8\n",
    "Mode: standalone\n",
    "Node count: 11\n",
);

pub const STAT: &str = concat!(
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n",
    "Clients:\n",
    " /127.0.0.1:47100[0](queued=0,recved=1,sent=0)\n",
    " /127.0.0.1:48302[1](queued=0,recved=9,sent=9)\n",
    " /127.0.0.1:48288[1](queued=0,recved=9,sent=9)\n",
    "\n",
    "Latency min/avg/max: 0/3.7778/17\n",
    "Received: 25\n",
    "Sent: 24\n",
    "Connections: 3\n",
    "Outstanding: 0\n",
    "Zxid: 0x8\n",
    "Mode: standalone\n",
    "Node count: 11\n",
);

pub const CONS: &str = concat!(
    " /127.0.0.1:47108[0](queued=0,recved=1,sent=0)\n",
    " /127.0.0.1:48302[1](queued=0,recved=9,sent=9,sid=0x1000003b73d0001,lop=PING,est=1795451828584,to=30000,lcxid=0x7,lzxid=0x8,lresp=261908,llat=4,minlat=0,avglat=3,maxlat=14)\n",
    " /127.0.0.1:48288[1](queued=0,recved=9,sent=9,sid=0x1000003b73d0000,lop=PING,est=1795451828579,to=30000,lcxid=0x7,lzxid=0x8,lresp=261909,llat=4,minlat=0,avglat=3,maxlat=17)\n",
    "\n",
);

pub const CONF: &str = concat!(
    "clientPort=22181\n",
    "secureClientPort=-1\n",
    "dataDir=/tmp/h3zk/data/version-2\n",
    "dataDirSize=67109337\n",
    "dataLogDir=/tmp/h3zk/data/version-2\n",
    "dataLogSize=67109337\n",
    "tickTime=2000\n",
    "maxClientCnxns=60\n",
    "minSessionTimeout=4000\n",
    "maxSessionTimeout=40000\n",
    "clientPortListenBacklog=-1\n",
    "serverId=0\n",
);

pub const ENVI: &str = concat!(
    "Environment:\n",
    "zookeeper.version=3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n",
    "host.name=localhost\n",
    "java.version=17.0.15\n",
    "java.vendor=Debian\n",
    "java.home=/usr/lib/jvm/java-17-openjdk-amd64\n",
    "java.class.path=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar\n",
    "java.library.path=/usr/java/packages/lib:/usr/lib/x86_64-linux-gnu/jni:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/jni:/lib:/usr/lib\n",
    "java.io.tmpdir=/tmp\n",
    "java.compiler=<NA>\n",
    "os.name=Linux\n",
    "os.arch=amd64\n",
    "os.version=6.18.44-fc-v782\n",
    "user.name=root\n",
    "user.home=/root\n",
    "user.dir=/tmp/h3zk\n",
    "os.memory.free=368MB\n",
    "os.memory.max=6028MB\n",
    "os.memory.total=388MB\n",
);

pub const WCHS: &str = concat!("2 connections watching 6 paths\n", "Total watches:6\n",);

pub const WCHC: &str = concat!(
    "0x1000003b73d0001\n",
    "\t/b\n",
    "\t/missing_b\n",
    "\t/b/e1\n",
    "0x1000003b73d0000\n",
    "\t/a\n",
    "\t/missing_a\n",
    "\t/a/e1\n",
    "\n",
);

pub const WCHP: &str = concat!(
    "/a\n",
    "\t0x1000003b73d0000\n",
    "/b\n",
    "\t0x1000003b73d0001\n",
    "/missing_b\n",
    "\t0x1000003b73d0001\n",
    "/missing_a\n",
    "\t0x1000003b73d0000\n",
    "/a/e1\n",
    "\t0x1000003b73d0000\n",
    "/b/e1\n",
    "\t0x1000003b73d0001\n",
    "\n",
);

pub const DUMP: &str = concat!(
    "SessionTracker dump:\n",
    "Session Sets (2)/(2):\n",
    "0 expire at Mon Nov 23 16:37:39 UTC 2026:\n",
    "2 expire at Mon Nov 23 16:37:41 UTC 2026:\n",
    "\t0x1000003b73d0000\n",
    "\t0x1000003b73d0001\n",
    "ephemeral nodes dump:\n",
    "Sessions with Ephemerals (2):\n",
    "0x1000003b73d0000:\n",
    "\t/a/e2\n",
    "\t/a/e1\n",
    "0x1000003b73d0001:\n",
    "\t/b/e2\n",
    "\t/b/e1\n",
    "Connections dump:\n",
    "Connections Sets (4)/(3):\n",
    "0 expire at Mon Nov 23 16:37:19 UTC 2026:\n",
    "1 expire at Mon Nov 23 16:37:29 UTC 2026:\n",
    "\tip: /127.0.0.1:47124 sessionId: 0x0\n",
    "0 expire at Mon Nov 23 16:37:39 UTC 2026:\n",
    "2 expire at Mon Nov 23 16:37:49 UTC 2026:\n",
    "\tip: /127.0.0.1:48302 sessionId: 0x1000003b73d0001\n",
    "\tip: /127.0.0.1:48288 sessionId: 0x1000003b73d0000\n",
);

pub const DIRS: &str = concat!("datadir_size: 67109337\n", "logdir_size: 67109337\n",);

pub const MNTR_HEAD: &str = concat!(
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n",
    "zk_server_state\tstandalone\n",
    "zk_ephemerals_count\t4\n",
    "zk_num_alive_connections\t3\n",
    "zk_avg_latency\t0.5698\n",
    "zk_outstanding_requests\t0\n",
    "zk_znode_count\t11\n",
    "zk_global_sessions\t2\n",
    "zk_non_mtls_remote_conn_count\t0\n",
    "zk_last_client_response_size\t16\n",
    "zk_packets_sent\t94\n",
    "zk_packets_received\t93\n",
    "zk_max_client_response_size\t16\n",
    "zk_connection_drop_probability\t0.0\n",
    "zk_watch_count\t8\n",
    "zk_auth_failed_count\t0\n",
    "zk_min_latency\t0\n",
    "zk_max_file_descriptor_count\t20000\n",
    "zk_approximate_data_size\t74\n",
    "zk_open_file_descriptor_count\t42\n",
    "zk_local_sessions\t0\n",
    "zk_uptime\t149480\n",
    "zk_max_latency\t4\n",
    "zk_outstanding_tls_handshake\t0\n",
    "zk_min_client_response_size\t16\n",
    "zk_non_mtls_local_conn_count\t0\n",
);

/// `cons` later: after `crst` (lcxid omitted, its reset value -1 is not printed) and asked
/// over IPv6.
pub const CONS_AFTER_CRST_IPV6: &str = concat!(
    " /[0:0:0:0:0:0:0:1]:51844[0](queued=0,recved=1,sent=0)\n",
    " /127.0.0.1:48302[1](queued=0,recved=44,sent=44,sid=0x1000003b73d0001,lop=PING,est=1795451828584,to=30000,lzxid=0x8,lresp=393983,llat=0,minlat=0,avglat=0,maxlat=3)\n",
    " /127.0.0.1:48288[1](queued=0,recved=44,sent=44,sid=0x1000003b73d0000,lop=PING,est=1795451828579,to=30000,lzxid=0x8,lresp=393985,llat=1,minlat=0,avglat=0,maxlat=4)\n",
    "\n",
);
