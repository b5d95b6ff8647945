//! Detector throughput against raw Hyperscan in the same run, on two corpora of about 4 MB
//! each, generated deterministically:
//!
//! - `mixed`: what a data-sharing platform carries — a third personal-data API responses and
//!   CSV exports, the rest statistics, dictionaries, enterprise records, gateway access logs
//!   and Chinese/English free text with valid and invalid identifiers sprinkled in, next to
//!   the numbers such data is full of (timestamps, amounts, order numbers, trace ids);
//! - `pii-dense`: the worst case, only personal-data responses, exports and text (about one
//!   identifier every 40 bytes), so the validation cost is as high as it gets.
//!
//! For each corpus:
//!
//! - `detectors/scan`: [`Detectors::scan`], i.e. Hyperscan plus token location, boundary
//!   checks and validation, with a counting callback;
//! - `raw-hyperscan/no-op`: the same expressions compiled directly with the `hyperscan`
//!   crate, scanning the same bytes with a callback that does nothing;
//! - `raw-hyperscan/som-leftmost`: the same again with `HS_FLAG_SOM_LEFTMOST`, the
//!   alternative to locating tokens from end offsets (kept to show why it was not chosen).
//!
//! After the criterion groups, an interleaved timing loop prints, per corpus,
//! `detectors X MB/s, raw hyperscan Y MB/s, ratio Z` (target: at least 0.70 on `mixed`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hyperscan::{BlockDatabase, Builder as _, Matching, Pattern, PatternFlags, Patterns};
use rules::detect::{Detectors, Kind, id_card_check_digit, luhn_check_digit, uscc_check_char};

const CORPUS_BYTES: usize = 4 << 20;

/// SplitMix64: deterministic, so every run scans the same corpus.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(*self.pick(b"0123456789abcdef")))
            .collect()
    }

    /// Replaces the last character with a different one of `alphabet`.
    fn corrupt(&mut self, value: String, alphabet: &[u8]) -> String {
        let (body, last) = value.split_at(value.len() - 1);
        loop {
            let c = *self.pick(alphabet);
            if c != last.as_bytes()[0] {
                return format!("{body}{}", char::from(c));
            }
        }
    }

    fn id_card(&mut self) -> String {
        let province = *self.pick(&[11, 31, 32, 33, 35, 44, 51, 62]);
        let (y, m, d) = (
            1950 + self.below(70),
            1 + self.below(12),
            1 + self.below(28),
        );
        let first17 = format!(
            "{province}{}{y}{m:02}{d:02}{}",
            self.digits(4),
            self.digits(3)
        );
        let check = id_card_check_digit(first17.as_bytes()).expect("17 digits");
        let id = format!("{first17}{}", char::from(check));
        if self.chance(20) {
            self.corrupt(id, b"0123456789X")
        } else {
            id
        }
    }

    fn bank_card(&mut self) -> String {
        let prefix = *self.pick(&["622202", "621700", "622848", "436742", "512425", "625807"]);
        let len = *self.pick(&[16usize, 19]);
        let payload = format!("{prefix}{}", self.digits(len - 1 - prefix.len()));
        let check = luhn_check_digit(payload.as_bytes()).expect("digits");
        let card = format!("{payload}{}", char::from(check));
        if self.chance(20) {
            self.corrupt(card, b"0123456789")
        } else {
            card
        }
    }

    fn uscc(&mut self) -> String {
        let body: String = (0..9)
            .map(|_| char::from(*self.pick(b"0123456789ABCDEFGHJKLMNPQRTUWXY")))
            .collect();
        let first17 = format!(
            "91{}{body}",
            self.pick(&["330100", "330106", "110105", "440300"])
        );
        let check = uscc_check_char(first17.as_bytes()).expect("alphabet");
        format!("{first17}{}", char::from(check))
    }

    fn mobile(&mut self) -> String {
        format!(
            "{}{}",
            self.pick(&["138", "139", "150", "186", "177", "199", "120"]),
            self.digits(8)
        )
    }

    fn email(&mut self) -> String {
        let user = *self.pick(&["zhangsan", "li.si", "wangwu88", "service", "gov-data"]);
        let domain = *self.pick(&["zj.gov.cn", "example.com", "163.com", "qq.com", "hz.gov.cn"]);
        format!("{user}{}@{domain}", self.below(1000))
    }

    fn plate(&mut self) -> String {
        let serial = if self.chance(30) {
            format!("D{}", self.digits(5))
        } else {
            format!(
                "{}{}",
                char::from(*self.pick(b"ABCDEFGHJK")),
                self.digits(4)
            )
        };
        format!(
            "{}{}{serial}",
            self.pick(&["浙", "沪", "苏", "京", "粤"]),
            char::from(*self.pick(b"ABCDE"))
        )
    }

    fn ipv4(&mut self) -> String {
        let octet = if self.chance(10) {
            256 + self.below(700)
        } else {
            self.below(256)
        };
        format!("10.{}.{}.{octet}", self.below(256), self.below(256))
    }

    fn name(&mut self) -> String {
        format!(
            "{}{}",
            self.pick(&["张", "王", "李", "赵", "陈", "刘", "杨", "黄"]),
            self.pick(&["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"])
        )
    }

    fn address(&mut self) -> String {
        format!(
            "浙江省杭州市{}{}号{}室",
            self.pick(&[
                "西湖区文三路",
                "上城区解放路",
                "滨江区江南大道",
                "余杭区文一西路"
            ]),
            self.below(999),
            self.below(2000)
        )
    }

    fn json_response(&mut self, out: &mut String) {
        let trace = self.hex(32);
        out.push_str(&format!(
            "{{\"code\":0,\"msg\":\"success\",\"traceId\":\"{trace}\",\"data\":{{\"total\":{},\"list\":[",
            self.below(100_000)
        ));
        for i in 0..5 {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"id\":{},\"name\":\"{}\",\"idCard\":\"{}\",\"mobile\":\"{}\",\"email\":\"{}\",\
                 \"bankCard\":\"{}\",\"address\":\"{}\",\"createTime\":\"2024-0{}-1{} 0{}:3{}:00\",\
                 \"ts\":17{},\"amount\":\"{}.{}\",\"status\":\"NORMAL\",\"deptCode\":\"{}\"}}",
                self.digits(9),
                self.name(),
                self.id_card(),
                self.mobile(),
                self.email(),
                self.bank_card(),
                self.address(),
                1 + self.below(9),
                self.below(10),
                self.below(10),
                self.below(10),
                self.digits(11),
                self.below(100_000),
                self.digits(2),
                self.digits(12),
            ));
        }
        out.push_str("]}}\n");
    }

    fn csv_block(&mut self, out: &mut String) {
        out.push_str("seq,name,id_card,phone,bank_card,org_code,plate,client_ip,amount,remark\n");
        for i in 0..20 {
            let remark = self
                .pick(&["已核验", "待复核", "ok", "", "补录"])
                .to_string();
            out.push_str(&format!(
                "{i},{},{},{},{},{},{},{},{}.{},{remark}\n",
                self.name(),
                self.id_card(),
                self.mobile(),
                self.bank_card(),
                self.uscc(),
                self.plate(),
                self.ipv4(),
                self.below(1_000_000),
                self.digits(2),
            ));
        }
    }

    /// A response of an interface that shares no personal data: statistics, a dictionary,
    /// or an enterprise record with its social credit code.
    fn json_other(&mut self, out: &mut String) {
        match self.below(3) {
            0 => {
                out.push_str("{\"code\":0,\"data\":{\"region\":\"330100\",\"items\":[");
                for i in 0..8 {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!(
                        "{{\"month\":\"2024-{:02}\",\"count\":{},\"ratio\":0.{},\"updated\":17{}}}",
                        1 + i,
                        self.below(1_000_000),
                        self.digits(4),
                        self.digits(11)
                    ));
                }
                out.push_str("]}}\n");
            }
            1 => {
                out.push_str("{\"code\":0,\"data\":[");
                for i in 0..10 {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!(
                        "{{\"dictCode\":\"ZJ{:04}\",\"label\":\"{}\",\"sort\":{i},\"enabled\":true}}",
                        self.below(10_000),
                        self.pick(&["行政许可", "行政处罚", "社会保障", "不动产登记", "公积金缴存"])
                    ));
                }
                out.push_str("],\"requestId\":\"");
                out.push_str(&self.hex(32));
                out.push_str("\"}\n");
            }
            _ => out.push_str(&format!(
                "{{\"code\":0,\"data\":{{\"entName\":\"杭州某某科技有限公司\",\"uscc\":\"{}\",\
                 \"regCapital\":\"{}万元\",\"estDate\":\"20{:02}-0{}-1{}\",\"status\":\"存续\",\
                 \"address\":\"{}\",\"scope\":\"技术开发、技术服务、技术咨询、成果转让\"}}}}\n",
                self.uscc(),
                self.below(10_000),
                self.below(24),
                1 + self.below(9),
                self.below(10),
                self.address()
            )),
        }
    }

    fn csv_stats(&mut self, out: &mut String) {
        out.push_str("region_code,stat_date,applications,approved,avg_days,amount_yuan\n");
        for _ in 0..20 {
            out.push_str(&format!(
                "3301{:02},2024-{:02}-{:02},{},{},{}.{},{}.{}\n",
                self.below(20),
                1 + self.below(12),
                1 + self.below(28),
                self.below(100_000),
                self.below(100_000),
                self.below(30),
                self.below(10),
                self.below(100_000_000),
                self.digits(2)
            ));
        }
    }

    fn access_log(&mut self, out: &mut String) {
        for _ in 0..10 {
            out.push_str(&format!(
                "2024-03-01T0{}:{:02}:{:02}.{}+08:00 INFO gateway {} \"GET /api/v2/share/{}?page={}&size=20\" 200 {} {}ms app={}\n",
                self.below(10),
                self.below(60),
                self.below(60),
                self.digits(3),
                self.ipv4(),
                self.pick(&["population/query", "enterprise/license", "social/insurance", "stats/monthly"]),
                self.below(50),
                self.below(100_000),
                self.below(2_000),
                self.hex(16)
            ));
        }
    }

    fn free_text(&mut self, out: &mut String) {
        for _ in 0..6 {
            let sentence = match self.below(7) {
                0 => format!(
                    "申请人{}于2024年3月{}日提交材料，身份证号{}，联系电话{}。",
                    self.name(),
                    1 + self.below(28),
                    self.id_card(),
                    self.mobile()
                ),
                1 => format!(
                    "订单号2024{}已支付金额{}.{}元，收款账户{}。",
                    self.digits(13),
                    self.below(10_000),
                    self.digits(2),
                    self.bank_card()
                ),
                2 => format!(
                    "The request from {} (build 4.2.{}) was forwarded to {} by gateway {}.",
                    self.email(),
                    self.below(100),
                    self.email(),
                    self.ipv4()
                ),
                3 => format!(
                    "车辆{}于{}时进入停车场，单位统一社会信用代码{}。",
                    self.plate(),
                    self.below(24),
                    self.uscc()
                ),
                4 => format!(
                    "Session {} closed after {} ms; {} rows returned, checksum {}.",
                    self.hex(16),
                    self.below(100_000),
                    self.below(5_000),
                    self.hex(40)
                ),
                5 => format!(
                    "持证人护照号码E{}，出境日期2023-0{}-1{}。",
                    self.digits(8),
                    1 + self.below(9),
                    self.below(10)
                ),
                _ => "数据共享接口调用正常，无异常告警。接口版本 v2.3.1，平均响应时间 35ms。"
                    .to_string(),
            };
            out.push_str(&sentence);
        }
        out.push('\n');
    }
}

/// A mix of what a data-sharing platform carries: a third of it personal-data responses and
/// exports, the rest statistics, dictionaries, enterprise records, access logs and text.
fn mixed_corpus() -> Vec<u8> {
    corpus(|g, i, out| match i % 10 {
        0 | 1 => g.json_response(out),
        2 | 3 => g.json_other(out),
        4 => g.csv_block(out),
        5 | 6 => g.csv_stats(out),
        7 => g.access_log(out),
        _ => g.free_text(out),
    })
}

/// The worst case: only personal-data responses, exports and text full of identifiers.
fn dense_corpus() -> Vec<u8> {
    corpus(|g, i, out| match i % 10 {
        0..=3 => g.json_response(out),
        4..=6 => g.csv_block(out),
        _ => g.free_text(out),
    })
}

fn corpus(mut record: impl FnMut(&mut Gen, u64, &mut String)) -> Vec<u8> {
    let mut g = Gen(0x7469_616e_6d75);
    let mut out = String::with_capacity(CORPUS_BYTES + 4096);
    let mut i = 0u64;
    while out.len() < CORPUS_BYTES {
        record(&mut g, i, &mut out);
        i += 1;
    }
    out.into_bytes()
}

fn raw_database(detectors: &Detectors, flags: PatternFlags) -> BlockDatabase {
    let patterns: Vec<Pattern> = detectors
        .expressions()
        .enumerate()
        .map(|(id, e)| Pattern {
            id: Some(id),
            ..Pattern::with_flags(e, flags).expect("pattern")
        })
        .collect();
    Patterns::from(patterns)
        .build()
        .expect("raw database compiles")
}

/// One corpus with its raw databases, scanned by the detectors and by raw Hyperscan.
struct Case<'a> {
    name: &'static str,
    data: Vec<u8>,
    detectors: &'a Detectors,
    raw: BlockDatabase,
    som: BlockDatabase,
}

impl Case<'_> {
    fn new<'a>(name: &'static str, data: Vec<u8>, detectors: &'a Detectors) -> Case<'a> {
        Case {
            name,
            data,
            detectors,
            raw: raw_database(detectors, PatternFlags::empty()),
            som: raw_database(detectors, PatternFlags::SOM_LEFTMOST),
        }
    }

    fn detect(&self, scratch: &mut rules::detect::Scratch) -> u64 {
        let mut n = 0u64;
        self.detectors
            .scan(scratch, black_box(&self.data), |_| n += 1)
            .expect("scan");
        n
    }

    fn raw(&self, db: &BlockDatabase, scratch: &hyperscan::Scratch) -> u64 {
        let mut n = 0u64;
        db.scan(black_box(&self.data), scratch, |_, _, _, _| {
            n += 1;
            Matching::Continue
        })
        .expect("raw scan");
        n
    }

    fn describe(&self, scratch: &mut rules::detect::Scratch, raw_scratch: &hyperscan::Scratch) {
        let findings = self
            .detectors
            .findings(scratch, &self.data, 0)
            .expect("scan");
        assert!(
            findings.count(Kind::IdCard) > 0,
            "the corpus holds ID cards"
        );
        eprintln!(
            "{} corpus: {} bytes, {} raw Hyperscan matches, {} validated findings {:?}",
            self.name,
            self.data.len(),
            self.raw(&self.raw, raw_scratch),
            findings.total(),
            findings
                .counts()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
        );
    }

    fn bench(
        &self,
        c: &mut Criterion,
        scratch: &mut rules::detect::Scratch,
        raw_scratch: &hyperscan::Scratch,
        som_scratch: &hyperscan::Scratch,
    ) {
        let mut group = c.benchmark_group(format!("detect-{}", self.name));
        group.throughput(Throughput::Bytes(self.data.len() as u64));
        group.bench_function("detectors/scan", |b| b.iter(|| self.detect(scratch)));
        group.bench_function("raw-hyperscan/no-op", |b| {
            b.iter(|| {
                self.raw
                    .scan(black_box(&self.data), raw_scratch, |_, _, _, _| {
                        Matching::Continue
                    })
                    .expect("raw scan")
            })
        });
        group.bench_function("raw-hyperscan/som-leftmost", |b| {
            b.iter(|| {
                self.som
                    .scan(black_box(&self.data), som_scratch, |_, _, _, _| {
                        Matching::Continue
                    })
                    .expect("raw scan")
            })
        });
        group.finish();
    }

    /// Interleaved rounds, so both sides see the same machine load; medians are reported.
    fn ratio(
        &self,
        scratch: &mut rules::detect::Scratch,
        raw_scratch: &hyperscan::Scratch,
        som_scratch: &hyperscan::Scratch,
    ) -> String {
        let rounds = 31;
        let (mut det, mut raw, mut som) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            black_box(self.detect(scratch));
            det.push(t.elapsed());
            let t = Instant::now();
            self.raw
                .scan(black_box(&self.data), raw_scratch, |_, _, _, _| {
                    Matching::Continue
                })
                .expect("raw scan");
            raw.push(t.elapsed());
            let t = Instant::now();
            self.som
                .scan(black_box(&self.data), som_scratch, |_, _, _, _| {
                    Matching::Continue
                })
                .expect("raw scan");
            som.push(t.elapsed());
        }
        let mb_per_s = |times: &mut Vec<Duration>| {
            times.sort();
            self.data.len() as f64 / times[times.len() / 2].as_secs_f64() / 1e6
        };
        let (det, raw, som) = (mb_per_s(&mut det), mb_per_s(&mut raw), mb_per_s(&mut som));
        format!(
            "{} corpus: detectors {det:.1} MB/s, raw hyperscan {raw:.1} MB/s, ratio {:.2}; \
             raw hyperscan with SOM_LEFTMOST {som:.1} MB/s",
            self.name,
            det / raw
        )
    }
}

fn main() {
    let detectors = Detectors::new().expect("detectors compile");
    let cases = [
        Case::new("mixed", mixed_corpus(), &detectors),
        Case::new("pii-dense", dense_corpus(), &detectors),
    ];
    let mut scratch = detectors.scratch().expect("scratch");
    let raw_scratch = cases[0].raw.alloc_scratch().expect("raw scratch");
    let som_scratch = cases[0].som.alloc_scratch().expect("som scratch");
    for case in &cases {
        case.describe(&mut scratch, &raw_scratch);
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for case in &cases {
        case.bench(&mut c, &mut scratch, &raw_scratch, &som_scratch);
    }
    c.final_summary();

    for case in &cases {
        eprintln!("{}", case.ratio(&mut scratch, &raw_scratch, &som_scratch));
    }
    eprintln!("target: ratio >= 0.70 on the mixed corpus");
}
