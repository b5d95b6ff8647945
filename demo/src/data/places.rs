//! Places of the demo data: real Zhejiang county-level divisions (GB/T 2260 codes, as in
//! force since the 2021 Hangzhou redistricting) and common street names. Addresses and the
//! area code of ID cards and USCCs are drawn from here.

/// A county-level division of Zhejiang (浙江省): its GB/T 2260 code, its prefecture-level
/// city and its own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct District {
    /// Six-digit division code, e.g. `330106`.
    pub code: &'static str,
    /// The prefecture-level city, e.g. `杭州市`.
    pub city: &'static str,
    /// The district, county or county-level city, e.g. `西湖区`.
    pub name: &'static str,
}

const fn d(code: &'static str, city: &'static str, name: &'static str) -> District {
    District { code, city, name }
}

/// The province every address starts with.
pub const PROVINCE: &str = "浙江省";

/// Real divisions of all eleven cities of Zhejiang, Hangzhou and Ningbo weighted by listing
/// more of their districts.
pub const DISTRICTS: &[District] = &[
    d("330102", "杭州市", "上城区"),
    d("330105", "杭州市", "拱墅区"),
    d("330106", "杭州市", "西湖区"),
    d("330108", "杭州市", "滨江区"),
    d("330109", "杭州市", "萧山区"),
    d("330110", "杭州市", "余杭区"),
    d("330111", "杭州市", "富阳区"),
    d("330112", "杭州市", "临安区"),
    d("330113", "杭州市", "临平区"),
    d("330114", "杭州市", "钱塘区"),
    d("330122", "杭州市", "桐庐县"),
    d("330127", "杭州市", "淳安县"),
    d("330182", "杭州市", "建德市"),
    d("330203", "宁波市", "海曙区"),
    d("330205", "宁波市", "江北区"),
    d("330206", "宁波市", "北仑区"),
    d("330211", "宁波市", "镇海区"),
    d("330212", "宁波市", "鄞州区"),
    d("330213", "宁波市", "奉化区"),
    d("330281", "宁波市", "余姚市"),
    d("330282", "宁波市", "慈溪市"),
    d("330302", "温州市", "鹿城区"),
    d("330303", "温州市", "龙湾区"),
    d("330304", "温州市", "瓯海区"),
    d("330381", "温州市", "瑞安市"),
    d("330382", "温州市", "乐清市"),
    d("330402", "嘉兴市", "南湖区"),
    d("330411", "嘉兴市", "秀洲区"),
    d("330481", "嘉兴市", "海宁市"),
    d("330483", "嘉兴市", "桐乡市"),
    d("330502", "湖州市", "吴兴区"),
    d("330503", "湖州市", "南浔区"),
    d("330523", "湖州市", "安吉县"),
    d("330602", "绍兴市", "越城区"),
    d("330603", "绍兴市", "柯桥区"),
    d("330604", "绍兴市", "上虞区"),
    d("330681", "绍兴市", "诸暨市"),
    d("330702", "金华市", "婺城区"),
    d("330703", "金华市", "金东区"),
    d("330782", "金华市", "义乌市"),
    d("330783", "金华市", "东阳市"),
    d("330802", "衢州市", "柯城区"),
    d("330881", "衢州市", "江山市"),
    d("330902", "舟山市", "定海区"),
    d("330903", "舟山市", "普陀区"),
    d("331002", "台州市", "椒江区"),
    d("331003", "台州市", "黄岩区"),
    d("331004", "台州市", "路桥区"),
    d("331081", "台州市", "温岭市"),
    d("331082", "台州市", "临海市"),
    d("331102", "丽水市", "莲都区"),
    d("331181", "丽水市", "龙泉市"),
];

/// The division with `code`, if it is one of [`DISTRICTS`].
pub fn district(code: &str) -> Option<&'static District> {
    DISTRICTS.iter().find(|d| d.code == code)
}

/// The eleven prefecture-level cities, in GB/T 2260 order, with their four-digit codes.
pub const CITIES: &[(&str, &str)] = &[
    ("3301", "杭州市"),
    ("3302", "宁波市"),
    ("3303", "温州市"),
    ("3304", "嘉兴市"),
    ("3305", "湖州市"),
    ("3306", "绍兴市"),
    ("3307", "金华市"),
    ("3308", "衢州市"),
    ("3309", "舟山市"),
    ("3310", "台州市"),
    ("3311", "丽水市"),
];

/// Street names common to most Zhejiang towns.
pub const STREETS: &[&str] = &[
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "文化路",
    "新华路",
    "和平路",
    "光明路",
    "胜利路",
    "青年路",
    "环城北路",
    "江南大道",
    "湖滨路",
    "学院路",
    "工业大道",
    "科技大道",
    "创业路",
    "振兴路",
    "兴业街",
    "府前路",
    "城东路",
    "滨江路",
    "明珠路",
    "凤凰路",
    "望江路",
    "金沙大道",
    "沿江路",
    "长安路",
    "东风路",
    "朝阳路",
    "文汇路",
    "迎宾大道",
    "世纪大道",
    "商城大道",
    "车站路",
    "体育场路",
    "延安路",
    "庆春路",
    "文三路",
    "天目山路",
    "钱江路",
    "江滨路",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn districts_are_zhejiang_codes_of_their_city() {
        for d in DISTRICTS {
            assert_eq!(d.code.len(), 6, "{d:?}");
            assert!(d.code.bytes().all(|b| b.is_ascii_digit()), "{d:?}");
            let city = CITIES
                .iter()
                .find(|(code, _)| d.code.starts_with(code))
                .map(|(_, name)| *name);
            assert_eq!(city, Some(d.city), "{d:?}");
        }
        let mut codes: Vec<_> = DISTRICTS.iter().map(|d| d.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DISTRICTS.len(), "duplicate district code");
        assert!(DISTRICTS.len() >= 40);
        assert_eq!(district("330106").map(|d| d.name), Some("西湖区"));
    }
}
