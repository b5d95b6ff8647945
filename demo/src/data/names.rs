//! Names of the demo data: people (common surnames weighted by frequency, gendered given-name
//! characters) and enterprises (brand words, industries, legal forms).

/// Common surnames with rough relative frequencies (per mille of the population, after the
/// 2020 census ranking), plus a few compound surnames.
pub const SURNAMES: &[(&str, u32)] = &[
    ("王", 72),
    ("李", 71),
    ("张", 68),
    ("刘", 54),
    ("陈", 46),
    ("杨", 33),
    ("黄", 24),
    ("赵", 20),
    ("吴", 20),
    ("周", 19),
    ("徐", 16),
    ("孙", 15),
    ("马", 14),
    ("朱", 14),
    ("胡", 13),
    ("郭", 12),
    ("何", 12),
    ("林", 12),
    ("高", 12),
    ("罗", 11),
    ("郑", 11),
    ("梁", 10),
    ("谢", 8),
    ("宋", 8),
    ("唐", 8),
    ("许", 7),
    ("韩", 7),
    ("冯", 7),
    ("邓", 7),
    ("曹", 7),
    ("彭", 6),
    ("曾", 6),
    ("肖", 6),
    ("田", 6),
    ("董", 6),
    ("袁", 5),
    ("潘", 5),
    ("于", 5),
    ("蒋", 5),
    ("蔡", 5),
    ("余", 5),
    ("杜", 5),
    ("叶", 5),
    ("程", 5),
    ("苏", 4),
    ("魏", 4),
    ("吕", 4),
    ("丁", 4),
    ("任", 4),
    ("沈", 4),
    ("姚", 4),
    ("卢", 4),
    ("姜", 4),
    ("崔", 3),
    ("钟", 3),
    ("谭", 3),
    ("陆", 3),
    ("汪", 3),
    ("范", 3),
    ("金", 3),
    ("石", 3),
    ("廖", 3),
    ("贾", 3),
    ("夏", 3),
    ("方", 3),
    ("邹", 3),
    ("孟", 2),
    ("熊", 2),
    ("秦", 2),
    ("邱", 2),
    ("江", 2),
    ("尹", 2),
    ("薛", 2),
    ("顾", 2),
    ("毛", 2),
    ("钱", 2),
    ("严", 2),
    ("戴", 2),
    ("孔", 1),
    ("应", 1),
    ("楼", 1),
    ("童", 1),
    ("欧阳", 1),
    ("诸葛", 1),
    ("司马", 1),
    ("上官", 1),
];

/// Given-name characters mostly given to men.
pub const MALE_GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "洋", "晨", "轩",
    "睿", "博", "文", "志", "建", "国", "海", "峰", "诚", "毅", "彬", "亮", "振", "栋", "锋", "昊",
    "然", "哲", "翔", "泽", "成", "坤", "骏",
];

/// Given-name characters mostly given to women.
pub const FEMALE_GIVEN: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "燕", "婷", "雪", "慧", "颖", "琳",
    "洁", "倩", "晶", "欣", "怡", "萱", "雯", "佳", "梦", "露", "瑶", "璐", "悦", "诗", "涵", "蕾",
    "红", "梅", "莉", "兰", "英", "萍", "琴", "月", "婉", "妍", "琪", "彤", "菲",
];

/// Given-name characters given to anyone.
pub const COMMON_GIVEN: &[&str] = &[
    "一", "子", "思", "雨", "嘉", "晓", "春", "秋", "安", "乐", "星", "云", "天", "心", "新", "阳",
    "清", "永", "德", "玉",
];

/// Two-character brand words of enterprise names (字号).
pub const BRANDS: &[&str] = &[
    "云帆", "华信", "恒达", "金桥", "东方", "新宇", "汇通", "博远", "天成", "正泰", "瑞丰", "中诚",
    "鼎盛", "万象", "星河", "海纳", "同创", "卓越", "宏图", "永安", "嘉禾", "绿源", "盛世", "华辰",
    "浙商", "钱潮", "之江", "西溪", "运河", "越秀", "瓯江", "甬城", "南湖", "富春", "千岛", "天目",
    "雁荡", "普济", "明州", "兰亭",
];

/// Industries of enterprise names (行业).
pub const INDUSTRIES: &[&str] = &[
    "网络科技",
    "信息技术",
    "电子商务",
    "贸易",
    "建筑工程",
    "餐饮管理",
    "物流",
    "服装",
    "机械制造",
    "新材料",
    "生物医药",
    "文化传媒",
    "环保科技",
    "汽车配件",
    "食品",
    "纺织",
    "智能装备",
    "物业管理",
    "教育咨询",
    "旅游开发",
];

/// Legal forms of companies (组织形式).
pub const COMPANY_FORMS: &[(&str, u32)] =
    &[("有限公司", 80), ("股份有限公司", 12), ("有限责任公司", 8)];

/// Trades of individual businesses (个体工商户), named after owner and trade.
pub const SHOP_TRADES: &[&str] = &[
    "小吃店",
    "便利店",
    "五金店",
    "理发店",
    "水果店",
    "服装店",
    "面馆",
    "副食品店",
    "维修部",
    "花店",
];

/// Produce of farmers' cooperatives (农民专业合作社).
pub const COOPERATIVE_PRODUCE: &[&str] = &[
    "茶叶",
    "杨梅",
    "蔬菜",
    "水产养殖",
    "竹笋",
    "柑橘",
    "食用菌",
    "中药材",
    "蜂业",
    "葡萄",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lists_are_han_and_distinct() {
        for list in [MALE_GIVEN, FEMALE_GIVEN, COMMON_GIVEN] {
            for c in list {
                assert_eq!(c.chars().count(), 1, "{c}");
            }
        }
        for list in [MALE_GIVEN, FEMALE_GIVEN, COMMON_GIVEN, BRANDS] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "duplicate in {list:?}");
        }
        let mut surnames: Vec<_> = SURNAMES.iter().map(|(s, _)| *s).collect();
        surnames.sort_unstable();
        surnames.dedup();
        assert_eq!(surnames.len(), SURNAMES.len());
    }
}
