//! Scanner tests: generated valid values (check digits computed here), values embedded in
//! JSON, CSV and free text, boundaries, precedence, windows, caps and hostile input.

use super::*;
use crate::detect::validate::{MIN_BIRTH_YEAR, date_valid, id_card_valid_until};

/// A small deterministic generator (SplitMix64), so failures reproduce.
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

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn date(&mut self, first_year: u16, last_year: u16) -> (u16, u8, u8) {
        loop {
            let y = first_year + self.below(u64::from(last_year - first_year + 1)) as u16;
            let m = 1 + self.below(12) as u8;
            let d = 1 + self.below(31) as u8;
            if date_valid(y, m, d) {
                return (y, m, d);
            }
        }
    }

    fn province(&mut self) -> u8 {
        *self.pick(&[11, 12, 31, 32, 33, 35, 37, 44, 50, 51, 62, 65, 81, 91])
    }

    fn id_card18(&mut self) -> String {
        let (y, m, d) = self.date(MIN_BIRTH_YEAR, 2024);
        let first17 = format!(
            "{}{}{y:04}{m:02}{d:02}{}",
            self.province(),
            self.digits(4),
            self.digits(3)
        );
        let check = id_card_check_digit(first17.as_bytes()).expect("17 digits");
        format!("{first17}{}", char::from(check))
    }

    fn id_card15(&mut self) -> String {
        let (y, m, d) = self.date(1900, 1999);
        format!(
            "{}{}{:02}{m:02}{d:02}{}",
            self.province(),
            self.digits(4),
            y % 100,
            self.digits(3)
        )
    }

    fn bank_card(&mut self) -> String {
        let (prefix, len): (String, usize) = match self.below(6) {
            0 => ("62".into(), 16 + self.below(4) as usize),
            1 => ("4".into(), 16),
            2 => (format!("5{}", 1 + self.below(5)), 16),
            3 => (self.pick(&["34", "37"]).to_string(), 15),
            4 => (format!("35{}", 28 + self.below(62)), 16),
            _ => (format!("{}", 2221 + self.below(500)), 16),
        };
        let payload = format!("{prefix}{}", self.digits(len - 1 - prefix.len()));
        let check = luhn_check_digit(payload.as_bytes()).expect("digits");
        format!("{payload}{}", char::from(check))
    }

    fn uscc(&mut self) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
        let authority = *self.pick(b"123456789ANY");
        let entity = b'1' + self.below(9) as u8;
        let body: String = (0..9).map(|_| char::from(*self.pick(ALPHABET))).collect();
        let first17 = format!(
            "{}{}{}{body}",
            char::from(authority),
            char::from(entity),
            self.digits(6)
        );
        let check = uscc_check_char(first17.as_bytes()).expect("alphabet");
        format!("{first17}{}", char::from(check))
    }

    fn mobile(&mut self) -> String {
        let prefix = *self.pick(&[
            "130", "139", "145", "149", "150", "153", "155", "162", "167", "170", "178", "180",
            "189", "190", "193", "199",
        ]);
        let country = *self.pick(&["", "", "", "+86", "86", "0086"]);
        format!("{country}{prefix}{}", self.digits(8))
    }

    fn passport(&mut self) -> String {
        match self.below(3) {
            0 => format!("E{}", self.digits(8)),
            1 => format!("G{}", self.digits(8)),
            _ => format!(
                "E{}{}",
                char::from(*self.pick(b"ABCDEFGHJKLMNPQRSTUVWXYZ")),
                self.digits(7)
            ),
        }
    }

    fn plate(&mut self) -> String {
        const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
        let province = *self.pick(&validate::PLATE_PROVINCES);
        let letter = char::from(*self.pick(b"ABCDEFGHJKLMN"));
        let sep = *self.pick(&["", "", "·"]);
        let serial = match self.below(4) {
            0 => format!("{}{}", char::from(*self.pick(b"DF")), self.digits(5)),
            1 => format!("{}{}", self.digits(5), char::from(*self.pick(b"DF"))),
            2 => format!("{}{}", self.digits(4), self.pick(&validate::PLATE_SUFFIXES)),
            _ => (0..5).map(|_| char::from(*self.pick(CHARS))).collect(),
        };
        format!("{province}{letter}{sep}{serial}")
    }

    fn email(&mut self) -> String {
        let user = *self.pick(&[
            "zhang.san",
            "li_si",
            "wang+gov",
            "13812345678",
            "a",
            "x-y.z",
        ]);
        let domain = *self.pick(&[
            "example.com",
            "zj.gov.cn",
            "mail.example.org",
            "163.com",
            "qq.com",
        ]);
        format!("{user}{}@{domain}", self.below(100))
    }

    fn ipv4(&mut self) -> String {
        (0..4)
            .map(|_| self.below(256).to_string())
            .collect::<Vec<_>>()
            .join(".")
    }

    fn value(&mut self, kind: Kind) -> String {
        match kind {
            Kind::IdCard if self.below(4) == 0 => self.id_card15(),
            Kind::IdCard => self.id_card18(),
            Kind::SocialCreditCode => self.uscc(),
            Kind::BankCard => self.bank_card(),
            Kind::Mobile => self.mobile(),
            Kind::Passport => self.passport(),
            Kind::LicencePlate => self.plate(),
            Kind::Email => self.email(),
            Kind::Ipv4 => self.ipv4(),
        }
    }

    /// A value of `kind` that validates as no kind of higher precedence.
    fn unambiguous(&mut self, kind: Kind) -> String {
        loop {
            let v = self.value(kind);
            let first = Kind::ALL.into_iter().find(|k| k.validate(v.as_bytes()));
            if first == Some(kind) {
                return v;
            }
        }
    }
}

fn detectors() -> Detectors {
    Detectors::new().expect("the detector database compiles")
}

/// The findings in `data` as (kind, matched text), sorted by position.
fn found(det: &Detectors, data: &str) -> Vec<(Kind, String)> {
    let mut scratch = det.scratch().expect("scratch");
    let findings = det
        .findings(&mut scratch, data.as_bytes(), usize::MAX)
        .expect("scan");
    let mut spans = findings.spans().to_vec();
    spans.sort_by_key(|f| (f.span.start, f.span.end));
    spans
        .into_iter()
        .map(|f| (f.kind, data[f.span].to_string()))
        .collect()
}

#[test]
fn detectors_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Detectors>();
    assert_send::<Scratch>();
}

#[test]
fn kind_names_are_stable() {
    #[derive(Serialize, Deserialize)]
    struct Row {
        kind: Kind,
    }
    let names = [
        "id-card",
        "social-credit-code",
        "bank-card",
        "mobile",
        "passport",
        "licence-plate",
        "email",
        "ipv4",
    ];
    for (kind, name) in Kind::ALL.into_iter().zip(names) {
        assert_eq!(kind.to_string(), name);
        let text = toml::to_string(&Row { kind }).expect("serialize");
        assert_eq!(text.trim(), format!("kind = \"{name}\""));
        let back: Row = toml::from_str(&text).expect("deserialize");
        assert_eq!(back.kind, kind);
    }
    assert!(toml::from_str::<Row>("kind = \"IdCard\"").is_err());
}

#[test]
fn generated_values_validate_and_are_found_alone() {
    let det = detectors();
    let mut g = Gen(1);
    for kind in Kind::ALL {
        for _ in 0..300 {
            let v = g.unambiguous(kind);
            assert!(kind.validate(v.as_bytes()), "{kind}: {v}");
            assert_eq!(found(&det, &v), vec![(kind, v.clone())], "{kind} alone");
            let text = format!("值:{v}。");
            assert_eq!(
                found(&det, &text),
                vec![(kind, v.clone())],
                "{kind} in {text}"
            );
        }
    }
}

#[test]
fn wrong_check_digits_never_match() {
    let det = detectors();
    let only: Vec<Detectors> = [Kind::IdCard, Kind::SocialCreditCode, Kind::BankCard]
        .iter()
        .map(|&k| Detectors::with(&[k]).expect("compiles"))
        .collect();
    let mut g = Gen(2);
    for _ in 0..200 {
        for (kind, value, alphabet) in [
            (Kind::IdCard, g.id_card18(), &b"0123456789X"[..]),
            (
                Kind::SocialCreditCode,
                g.uscc(),
                &b"0123456789ABCDEFGHJKLMNPQRTUWXY"[..],
            ),
            (Kind::BankCard, g.bank_card(), &b"0123456789"[..]),
        ] {
            let (body, check) = value.split_at(value.len() - 1);
            for &c in alphabet.iter().filter(|&&c| c != check.as_bytes()[0]) {
                let wrong = format!("{body}{}", char::from(c));
                let data = format!("{{\"v\":\"{wrong}\"}}");
                let hits = found(&det, &data);
                assert!(
                    hits.iter().all(|(k, _)| *k != kind),
                    "{kind}: {wrong} -> {hits:?}"
                );
                let only = only.iter().find(|d| d.kinds() == [kind]).expect("compiled");
                assert!(found(only, &data).is_empty(), "{kind} only: {wrong}");
            }
        }
    }
}

#[test]
fn impossible_birth_dates_never_match() {
    let det = Detectors::with(&[Kind::IdCard]).expect("compiles");
    for date in [
        "19490230", "19490431", "19000229", "20230229", "19491301", "19490100", "18991231",
        "21000101",
    ] {
        let first17 = format!("110105{date}002");
        let check = id_card_check_digit(first17.as_bytes()).expect("17 digits");
        let id = format!("{first17}{}", char::from(check));
        assert!(!id_card_valid(id.as_bytes()), "{id}");
        assert!(found(&det, &id).is_empty(), "{id}");
    }
    for old in ["110105490230002", "110105000229002", "110105491301002"] {
        assert!(found(&det, old).is_empty(), "{old}");
    }
    assert!(id_card_valid_until(b"11010519491231002X", 1949));
    assert!(!id_card_valid_until(b"11010519491231002X", 1948));
}

#[test]
fn values_in_json_csv_and_free_text() {
    let det = detectors();
    let id = "11010519491231002X";
    let cases: &[(&str, &[(Kind, &str)])] = &[
        (r#"{"id_card":"11010519491231002X"}"#, &[(Kind::IdCard, id)]),
        (
            r#"{"id_card":"11010519491231002x","n":1}"#,
            &[(Kind::IdCard, "11010519491231002x")],
        ),
        (
            r#"{"id":110105491231002}"#,
            &[(Kind::IdCard, "110105491231002")],
        ),
        (
            "name,id,phone,card\n张三,11010519491231002X,13812345678,6212345678901232\n",
            &[
                (Kind::IdCard, id),
                (Kind::Mobile, "13812345678"),
                (Kind::BankCard, "6212345678901232"),
            ],
        ),
        (
            "11010519491231002X\t+8613912345678\t91350100M000100Y43",
            &[
                (Kind::IdCard, id),
                (Kind::Mobile, "+8613912345678"),
                (Kind::SocialCreditCode, "91350100M000100Y43"),
            ],
        ),
        (
            "申请人张三，身份证号11010519491231002X，手机13812345678，邮箱zhangsan@zj.gov.cn，车牌浙A·12345。",
            &[
                (Kind::IdCard, id),
                (Kind::Mobile, "13812345678"),
                (Kind::Email, "zhangsan@zj.gov.cn"),
                (Kind::LicencePlate, "浙A·12345"),
            ],
        ),
        (
            "Contact Li Si (passport E12345678, plate 粤BD12345) at li.si@example.com. Server 10.0.0.1:5432.",
            &[
                (Kind::Passport, "E12345678"),
                (Kind::LicencePlate, "粤BD12345"),
                (Kind::Email, "li.si@example.com"),
                (Kind::Ipv4, "10.0.0.1"),
            ],
        ),
        (
            "公司统一社会信用代码：91350100M000100Y43",
            &[(Kind::SocialCreditCode, "91350100M000100Y43")],
        ),
        (
            "教练车粤B1234学停在这里",
            &[(Kind::LicencePlate, "粤B1234学")],
        ),
        (
            "mail 13812345678@163.com now",
            &[(Kind::Email, "13812345678@163.com")],
        ),
        ("tel:0086-13812345678", &[(Kind::Mobile, "13812345678")]),
        ("008613812345678", &[(Kind::Mobile, "008613812345678")]),
        ("ip=192.168.1.1&x=1", &[(Kind::Ipv4, "192.168.1.1")]),
        (
            "hosts 1.2.3.4 and 255.255.255.255.",
            &[(Kind::Ipv4, "1.2.3.4"), (Kind::Ipv4, "255.255.255.255")],
        ),
    ];
    for &(data, want) in cases {
        let want: Vec<(Kind, String)> = want.iter().map(|&(k, s)| (k, s.to_string())).collect();
        assert_eq!(found(&det, data), want, "{data}");
    }
}

#[test]
fn no_match_inside_longer_runs_or_words() {
    let det = detectors();
    for data in [
        "110105194912310021X", // 19 characters
        "211010519491231002X", // digit before
        "11010519491231002X1", // digit after
        "11010519491231002XY", // letter after
        "a11010519491231002X", // letter before
        "0.11010519491231002", // decimal fraction
        "1110105491231002",    // 16-digit run containing a 15-digit ID
        "138123456789",        // 12 digits
        "213812345678",
        "13812345678a",
        "x13812345678",
        "862138123456780", // country code glued to the wrong digits
        "E123456789",      // 9 digits after E
        "XE12345678",
        "91350100M000100Y43A",
        "A91350100M000100Y43",
        "62123456789012320000", // 20 digits
        "浙A123456",            // 6-digit serial, not new-energy
        "浙A12345Q",
        "256.1.1.1",
        "1.2.3.4.5",
        "1.2.3",
        "01.2.3.4",
        "1.2.3.04",
        "v1.2.3.4",
        "1.2.3.4a",
        "x.1.2.3.4",
        "a@b.c",
        "a@b.com_x",
        "",
    ] {
        assert_eq!(found(&det, data), vec![], "{data:?}");
    }
}

#[test]
fn precedence_between_kinds_on_the_same_characters() {
    let mut g = Gen(3);
    // An ID card that is also a valid bank card number (Gansu, province 62, passes Luhn).
    let id = loop {
        let (y, m, d) = g.date(1950, 2000);
        let first17 = format!("62{}{y:04}{m:02}{d:02}{}", g.digits(4), g.digits(3));
        let check = id_card_check_digit(first17.as_bytes()).expect("17 digits");
        let id = format!("{first17}{}", char::from(check));
        if bank_card_valid(id.as_bytes()) {
            break id;
        }
    };
    assert_eq!(found(&detectors(), &id), vec![(Kind::IdCard, id.clone())]);
    let cards = Detectors::with(&[Kind::BankCard]).expect("compiles");
    assert_eq!(found(&cards, &id), vec![(Kind::BankCard, id.clone())]);
    // A USCC made only of digits that is also an ID card number.
    let both = loop {
        let v = g.id_card18();
        if uscc_valid(v.as_bytes()) {
            break v;
        }
    };
    assert_eq!(
        found(&detectors(), &both),
        vec![(Kind::IdCard, both.clone())]
    );
    let codes = Detectors::with(&[Kind::SocialCreditCode]).expect("compiles");
    assert_eq!(
        found(&codes, &both),
        vec![(Kind::SocialCreditCode, both.clone())]
    );
}

#[test]
fn subsets_detect_only_their_kinds() {
    let data = "11010519491231002X 13812345678 a@example.com 10.1.2.3";
    let det = Detectors::with(&[Kind::Mobile, Kind::Ipv4, Kind::Mobile]).expect("compiles");
    assert_eq!(det.kinds(), &[Kind::Mobile, Kind::Ipv4]);
    assert_eq!(
        found(&det, data),
        vec![
            (Kind::Mobile, "13812345678".into()),
            (Kind::Ipv4, "10.1.2.3".into())
        ]
    );
    assert!(matches!(Detectors::with(&[]), Err(DetectError::NoKinds)));
    assert_eq!(det.expressions().count(), 2);
    assert_eq!(detectors().expressions().count(), patterns::SPECS.len());
}

/// A corpus with every kind in JSON, CSV and text, plus noise around it.
fn corpus(g: &mut Gen, records: usize) -> (String, Vec<(Kind, String)>) {
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 0..records {
        let kind = *g.pick(&Kind::ALL);
        let v = g.unambiguous(kind);
        match i % 3 {
            0 => text.push_str(&format!(
                "{{\"seq\":{i},\"ts\":1700000000{i:03},\"v\":\"{v}\",\"ok\":true}}\n"
            )),
            1 => text.push_str(&format!("{i},{v},备注{},3.14159\n", g.digits(5))),
            _ => text.push_str(&format!("第{i}条 记录 {v} 已核验 order-{}\n", g.digits(8))),
        }
        want.push((kind, v));
    }
    (text, want)
}

#[test]
fn corpus_finds_exactly_the_planted_values() {
    let det = detectors();
    let mut g = Gen(4);
    let (text, want) = corpus(&mut g, 2_000);
    assert_eq!(found(&det, &text), want);
}

#[test]
fn windows_report_each_value_once() {
    let det = detectors();
    let mut g = Gen(5);
    let (text, _) = corpus(&mut g, 300);
    let whole = found(&det, &text);
    let mut scratch = det.scratch().expect("scratch");
    for step in [1, 7, 64, 333, 4096] {
        let mut got = Vec::new();
        det.scan_windows(&mut scratch, text.as_bytes(), step, |f| {
            got.push(f);
            true
        })
        .expect("scan");
        got.sort_by_key(|f| (f.span.start, f.span.end));
        let got: Vec<_> = got
            .into_iter()
            .map(|f| (f.kind, text[f.span].to_string()))
            .collect();
        assert_eq!(got, whole, "step {step}");
    }
}

#[test]
fn findings_cap_the_spans_but_count_everything() {
    let det = detectors();
    let data = "13812345678,".repeat(10);
    let mut scratch = det.scratch().expect("scratch");
    let findings = det
        .findings(&mut scratch, data.as_bytes(), 3)
        .expect("scan");
    assert_eq!(findings.count(Kind::Mobile), 10);
    assert_eq!(findings.total(), 10);
    assert_eq!(findings.spans().len(), 3);
    assert_eq!(findings.truncated(), 7);
    assert_eq!(
        findings.counts().collect::<Vec<_>>(),
        vec![(Kind::Mobile, 10)]
    );
    let none = det
        .findings(&mut scratch, b"nothing here", 3)
        .expect("scan");
    assert!(none.is_empty());
    assert_eq!(none.truncated(), 0);
}

#[test]
fn scan_callback_sees_every_finding_and_its_panic_resumes() {
    let det = detectors();
    let mut scratch = det.scratch().expect("scratch");
    let mut seen = Vec::new();
    det.scan(&mut scratch, b"13812345678 E12345678", |f| {
        seen.push(f.kind)
    })
    .expect("scan");
    assert_eq!(seen, vec![Kind::Mobile, Kind::Passport]);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = det.scan(&mut scratch, b"13812345678", |_| panic!("callback failed"));
    }));
    assert!(result.is_err());
    // The scratch is still usable after the unwound scan.
    let again = det.findings(&mut scratch, b"13812345678", 1).expect("scan");
    assert_eq!(again.count(Kind::Mobile), 1);
}

#[test]
fn a_scratch_from_other_detectors_is_grown() {
    let small = Detectors::with(&[Kind::Ipv4]).expect("compiles");
    let all = detectors();
    let mut scratch = small.scratch().expect("scratch");
    let findings = all
        .findings(&mut scratch, b"a@example.com 1.2.3.4", 8)
        .expect("scan");
    assert_eq!(findings.total(), 2);
    let findings = small
        .findings(&mut scratch, b"a@example.com 1.2.3.4", 8)
        .expect("scan");
    assert_eq!(findings.total(), 1);
}

#[test]
fn hostile_input_never_panics() {
    let det = detectors();
    let mut scratch = det.scratch().expect("scratch");
    let mut g = Gen(6);
    let alphabet: &[u8] = b"0123456789X.@+-_ aE\n\xe6\xb5\x99A\xff\xc2\xb7";
    for len in [0usize, 1, 2, 3, 17, 18, 19, 100, 4096] {
        for _ in 0..50 {
            let data: Vec<u8> = (0..len).map(|_| *g.pick(alphabet)).collect();
            let findings = det.findings(&mut scratch, &data, 16).expect("scan");
            for f in findings.spans() {
                assert!(f.kind.validate(&data[f.span.clone()]), "{f:?}");
            }
        }
    }
    // Long uniform runs: one huge number, one huge local part, dots.
    for byte in [b'1', b'a', b'.', b'@', 0xff] {
        let data = vec![byte; 1 << 20];
        let findings = det.findings(&mut scratch, &data, 16).expect("scan");
        assert!(findings.is_empty(), "run of {byte:#x}");
    }
}
