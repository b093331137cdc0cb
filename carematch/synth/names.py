"""Chinese personal names: a small generator, homophone variants and a pinyin table.

Names are kept as integer indices into :data:`CHARS` (surname, first and optional second
given-name character) so that rendering, homophone typos and pinyin spellings are all array
operations. Only the characters listed here are ever used, which is why a hand-written
character→pinyin table is enough (no pinyin library needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carematch.synth import strings

# Common surnames with rough national frequencies (%); the second weight favours the surnames
# of the Pearl River Delta (陈 黄 梁 林 罗 何 钟 …) for locally registered residents.
_SURNAMES = """
王 wang 7.1 5.0|李 li 7.2 6.5|张 zhang 6.9 5.0|刘 liu 5.4 4.0|陈 chen 4.5 9.0|杨 yang 3.1 2.5
黄 huang 2.2 6.0|赵 zhao 2.3 1.0|吴 wu 2.1 3.0|周 zhou 2.0 2.0|徐 xu 1.7 1.0|孙 sun 1.5 0.6
马 ma 1.4 0.6|朱 zhu 1.3 1.5|胡 hu 1.3 1.0|郭 guo 1.1 1.0|何 he 1.2 3.0|林 lin 1.1 4.0
罗 luo 0.9 3.0|高 gao 1.0 0.6|郑 zheng 0.8 1.8|梁 liang 0.7 4.5|谢 xie 0.7 1.8|宋 song 0.6 0.4
唐 tang 0.7 0.8|许 xu 0.7 1.0|韩 han 0.5 0.3|邓 deng 0.6 1.5|冯 feng 0.5 1.2|曹 cao 0.5 0.4
彭 peng 0.4 0.6|曾 zeng 0.5 1.5|肖 xiao 0.5 0.6|田 tian 0.5 0.3|董 dong 0.4 0.3|潘 pan 0.4 0.8
袁 yuan 0.4 0.4|蔡 cai 0.3 0.9|蒋 jiang 0.3 0.3|余 yu 0.4 0.8|于 yu 0.4 0.2|杜 du 0.3 0.3
叶 ye 0.4 1.0|程 cheng 0.4 0.3|魏 wei 0.3 0.2|苏 su 0.3 0.6|丁 ding 0.3 0.2|任 ren 0.3 0.2
卢 lu 0.3 0.8|姚 yao 0.3 0.3|沈 shen 0.3 0.2|钟 zhong 0.3 1.5|姜 jiang 0.3 0.1|崔 cui 0.2 0.1
谭 tan 0.2 0.8|陆 lu 0.3 0.3|范 fan 0.2 0.2|汪 wang 0.3 0.2|廖 liao 0.2 0.8|石 shi 0.2 0.2
金 jin 0.2 0.1|韦 wei 0.2 0.3|贾 jia 0.2 0.1|夏 xia 0.2 0.1|付 fu 0.2 0.1|方 fang 0.2 0.3
邹 zou 0.2 0.3|熊 xiong 0.2 0.1|白 bai 0.2 0.1|孟 meng 0.2 0.1|秦 qin 0.2 0.1|邱 qiu 0.2 0.5
侯 hou 0.2 0.1|江 jiang 0.2 0.4|尹 yin 0.2 0.1|薛 xue 0.2 0.1|段 duan 0.2 0.1|雷 lei 0.2 0.1
龙 long 0.2 0.1|黎 li 0.1 0.6|史 shi 0.1 0.1|陶 tao 0.1 0.1|贺 he 0.1 0.1|毛 mao 0.1 0.1
顾 gu 0.1 0.1|龚 gong 0.1 0.1|邵 shao 0.1 0.1|覃 qin 0.1 0.1|莫 mo 0.1 0.5|欧 ou 0.1 0.4
赖 lai 0.1 0.6|温 wen 0.1 0.6|钱 qian 0.1 0.1|严 yan 0.1 0.1
"""

# Given-name characters by sex, with the eras they are typical of: o = born before 1965,
# m = 1965-1999, y = 2000 onwards. Era matters because 秀英 and 梓涵 do not share a birth year.
_GIVEN_MALE = """
伟 wei m|强 qiang m|磊 lei m|军 jun om|勇 yong m|杰 jie m|涛 tao m|明 ming om|超 chao m
刚 gang om|平 ping om|辉 hui m|鹏 peng m|华 hua om|飞 fei m|鑫 xin my|波 bo m|斌 bin m
宇 yu y|浩 hao y|凯 kai my|健 jian m|俊 jun my|建 jian o|国 guo o|志 zhi om|文 wen om
海 hai om|峰 feng m|林 lin om|东 dong om|亮 liang m|成 cheng om|龙 long m|博 bo y|轩 xuan y
然 ran y|子 zi y|睿 rui y|泽 ze y|晨 chen y|阳 yang my|一 yi y|梓 zi y|豪 hao y|宏 hong om
新 xin om|永 yong o|春 chun o|德 de o|福 fu o|生 sheng o|荣 rong o|金 jin o|帆 fan y
诚 cheng my|奕 yi y|铭 ming y|嘉 jia y
"""
_GIVEN_FEMALE = """
芳 fang m|娜 na m|敏 min m|静 jing m|丽 li m|艳 yan m|娟 juan m|霞 xia om|秀 xiu o|英 ying o
玲 ling m|燕 yan m|红 hong om|梅 mei om|琳 lin m|婷 ting my|雪 xue m|慧 hui m|莉 li m|兰 lan o
萍 ping om|华 hua o|欣 xin y|怡 yi y|佳 jia y|琪 qi y|雨 yu y|涵 han y|萱 xuan y|思 si y
晶 jing m|倩 qian m|颖 ying m|洁 jie m|月 yue my|桂 gui o|凤 feng o|珍 zhen o|玉 yu o|春 chun o
文 wen m|子 zi y|梓 zi y|可 ke y|诗 shi y|馨 xin y|悦 yue y|琴 qin om|云 yun om|淑 shu o
晓 xiao m|丹 dan m|瑶 yao y|彤 tong y|欢 huan m
"""

# Characters that only ever appear as a typist's homophone of a name character.
_VARIANT_ONLY = """
章 zhang|柳 liu|傅 fu|伍 wu|武 wu|玮 wei|炜 wei|威 wei|君 jun|均 jun|涌 yong|捷 jie|韬 tao
滔 tao|鸣 ming|潮 chao|钢 gang|纲 gang|苹 ping|晖 hui|徽 hui|朋 peng|桦 hua|骅 hua|菲 fei
非 fei|彬 bin|滨 bin|羽 yu|语 yu|昊 hao|皓 hao|楷 kai|铠 kai|剑 jian|骏 jun|峻 jun|智 zhi
治 zhi|雯 wen|闻 wen|锋 feng|丰 feng|枫 feng|霖 lin|冬 dong|城 cheng|隆 long|宣 xuan|冉 ran
紫 zi|瑞 rui|锐 rui|择 ze|辰 chen|臣 chen|洋 yang|扬 yang|依 yi|弘 hong|泳 yong|纯 chun
淳 chun|得 de|富 fu|升 sheng|胜 sheng|蓉 rong|容 rong|锦 jin|津 jin|凡 fan|繁 fan|亦 yi
毅 yi|家 jia|舫 fang|那 na|珉 min|闵 min|婧 jing|靖 jing|俐 li|利 li|雁 yan|鹃 juan|涓 juan
侠 xia|琇 xiu|绣 xiu|瑛 ying|莹 ying|铃 ling|灵 ling|虹 hong|玫 mei|媚 mei|庭 ting|亭 ting
惠 hui|蕙 hui|岚 lan|蓝 lan|宜 yi|仪 yi|琦 qi|淇 qi|棋 qi|晗 han|函 han|璇 xuan|斯 si
丝 si|菁 jing|京 jing|茜 qian|影 ying|越 yue|贵 gui|真 zhen|贞 zhen|钰 yu|珂 ke|柯 ke|施 shi
师 shi|勤 qin|芹 qin|芸 yun|昀 yun|舒 shu|书 shu|小 xiao|筱 xiao|遥 yao|桐 tong|童 tong|焕 huan
阳 yang
"""

# Homophones (same pinyin, tones aside) that clerks type for one another: 伟/玮, 丽/莉, 明/铭 …
_HOMOPHONES = """
王 汪|张 章|李 黎|徐 许|江 姜 蒋|于 余|陆 卢|何 贺|石 史|韦 魏|秦 覃|付 傅|刘 柳|杨 阳
吴 伍 武|程 成|伟 玮 炜 威|磊 雷|军 君 均|勇 永 涌|杰 洁 捷|涛 韬 滔|明 铭 鸣|超 潮
刚 钢 纲|平 萍 苹|辉 晖 徽|鹏 朋|华 桦 骅|飞 菲 非|鑫 欣 新 馨|波 博|斌 彬 滨|宇 雨 羽 语
浩 昊 皓 豪|凯 楷 铠|健 建 剑|俊 骏 峻|志 智 治|文 雯 闻|峰 锋 丰 枫 凤|林 琳 霖|东 冬
成 诚 城|龙 隆|轩 萱 宣 璇|然 冉|子 紫 梓|睿 瑞 锐|泽 择|晨 辰 臣|阳 洋 扬|一 依
宏 红 弘 虹|永 泳|春 纯 淳|德 得|福 富 付|生 升 胜|荣 蓉 容|金 锦 津|帆 凡 繁|奕 亦 毅
嘉 佳 家|芳 方 舫|娜 那|敏 珉 闵|静 婧 靖|丽 莉 俐 利|艳 燕 雁|娟 鹃 涓|霞 侠|秀 琇 绣
英 瑛 莹 颖 影|玲 铃 灵|梅 玫 媚|婷 庭 亭|慧 惠 蕙|兰 岚 蓝|怡 宜 仪|琪 琦 淇 棋|涵 晗 函
思 斯 丝|晶 菁 京|倩 茜|月 悦 越|桂 贵|珍 真 贞|玉 钰|可 珂 柯|诗 施 师|琴 勤 芹|云 芸 昀
淑 舒 书|晓 小 筱|瑶 遥 姚|彤 桐 童|欢 焕
"""

ERAS = ("o", "m", "y")
"""Naming eras: born before 1965, 1965-1999, 2000 onwards."""


def _entries(block: str) -> list[list[str]]:
    return [e.split() for e in block.replace("\n", "|").split("|") if e.strip()]


@dataclass(frozen=True)
class NameTables:
    """Character tables behind the name generator (built once, shared by every stage)."""

    chars: tuple[str, ...]
    pinyin: tuple[str, ...]
    surnames: np.ndarray
    surname_weights_national: np.ndarray
    surname_weights_local: np.ndarray
    given: dict[str, np.ndarray]
    given_weights: dict[tuple[str, str], np.ndarray]
    alt_start: np.ndarray
    alt_count: np.ndarray
    alt_flat: np.ndarray


def build_tables() -> NameTables:
    """Index every character once and precompute weights and homophone lists."""
    chars: list[str] = []
    pinyin: list[str] = []
    index: dict[str, int] = {}

    def add(char: str, sound: str) -> int:
        if char in index:
            if pinyin[index[char]] != sound:
                raise ValueError(f"two readings for {char}: {pinyin[index[char]]} / {sound}")
            return index[char]
        index[char] = len(chars)
        chars.append(char)
        pinyin.append(sound)
        return index[char]

    surnames, national, local = [], [], []
    for char, sound, w_nat, w_loc in _entries(_SURNAMES):
        surnames.append(add(char, sound))
        national.append(float(w_nat))
        local.append(float(w_loc))
    given: dict[str, np.ndarray] = {}
    given_weights: dict[tuple[str, str], np.ndarray] = {}
    for sex, block in (("M", _GIVEN_MALE), ("F", _GIVEN_FEMALE)):
        entries = _entries(block)
        given[sex] = np.array([add(c, s) for c, s, _ in entries], dtype=np.int64)
        for era in ERAS:
            w = np.array([1.0 if era in tags else 0.08 for _, _, tags in entries])
            given_weights[(sex, era)] = w / w.sum()
    for char, sound in _entries(_VARIANT_ONLY):
        add(char, sound)

    alternatives: list[list[int]] = [[] for _ in chars]
    for group in _entries(_HOMOPHONES):
        ids = [index[c] for c in group]
        sounds = {pinyin[i] for i in ids}
        if len(sounds) != 1:
            raise ValueError(f"homophone group {group} has readings {sorted(sounds)}")
        for i in ids:
            alternatives[i].extend(j for j in ids if j != i and j not in alternatives[i])
    alt_count = np.array([len(a) for a in alternatives], dtype=np.int64)
    alt_start = np.concatenate([[0], np.cumsum(alt_count)[:-1]]).astype(np.int64)
    alt_flat = np.array([j for a in alternatives for j in a], dtype=np.int64)
    return NameTables(
        chars=tuple(chars),
        pinyin=tuple(pinyin),
        surnames=np.array(surnames, dtype=np.int64),
        surname_weights_national=np.array(national) / sum(national),
        surname_weights_local=np.array(local) / sum(local),
        given=given,
        given_weights=given_weights,
        alt_start=alt_start,
        alt_count=alt_count,
        alt_flat=alt_flat,
    )


TABLES = build_tables()


def era_of(birth_year: np.ndarray) -> np.ndarray:
    """Naming era index (0 = o, 1 = m, 2 = y) for each birth year."""
    return np.digitize(birth_year, [1965, 2000])


def draw_surnames(rng: np.random.Generator, n: int, local: bool) -> np.ndarray:
    """Surname indices for ``n`` people, weighted national or Pearl-River-Delta."""
    w = TABLES.surname_weights_local if local else TABLES.surname_weights_national
    return rng.choice(TABLES.surnames, size=n, p=w)


def draw_given(
    rng: np.random.Generator, sex: np.ndarray, birth_year: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Given-name character indices (second is -1 for one-character names) by sex and era."""
    n = len(sex)
    first = np.empty(n, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    era = era_of(birth_year)
    # One-character given names (王伟, 张敏) were common before 2000 and make namesakes likely.
    single_share = np.array([0.35, 0.30, 0.08])[era]
    two = rng.random(n) >= single_share
    for sex_code in ("M", "F"):
        for e, era_name in enumerate(ERAS):
            rows = np.flatnonzero((sex == sex_code) & (era == e))
            if rows.size == 0:
                continue
            pool = TABLES.given[sex_code]
            p = TABLES.given_weights[(sex_code, era_name)]
            first[rows] = rng.choice(pool, size=rows.size, p=p)
            second_draw = rng.choice(pool, size=rows.size, p=p)
            # Doubled characters (婷婷, 欣欣) are a girls' fashion of recent decades only.
            doubled = second_draw == first[rows]
            if not (sex_code == "F" and era_name == "y"):
                second_draw = np.where(doubled, -1, second_draw)
            second[rows] = np.where(two[rows], second_draw, -1)
    return first, second


def render(surname: np.ndarray, given1: np.ndarray, given2: np.ndarray) -> pa.Array:
    """Names in characters, e.g. ``王伟`` or ``陈思涵``."""
    return strings.concat(
        strings.pick(TABLES.chars, surname),
        strings.pick(TABLES.chars, given1),
        strings.pick(TABLES.chars, given2),
    )


def render_pinyin(
    surname: np.ndarray, given1: np.ndarray, given2: np.ndarray, upper: np.ndarray
) -> pa.Array:
    """Names as systems without Chinese input store them: ``Chen Sihan`` or ``CHEN SIHAN``."""
    capital = [p.capitalize() for p in TABLES.pinyin]
    text = strings.concat(
        strings.concat(strings.pick(capital, surname), " "),
        strings.pick(capital, given1),
        strings.pick(TABLES.pinyin, given2),
    )
    return pc.if_else(pa.array(np.asarray(upper, dtype=bool)), pc.utf8_upper(text), text)


def homophone_swap(
    rng: np.random.Generator,
    surname: np.ndarray,
    given1: np.ndarray,
    given2: np.ndarray,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace one character of each name in ``rows`` by a homophone (伟→玮, 丽→莉 …).

    The position is drawn among the characters that have a homophone, so every selected row
    really changes; rows whose name has none (rare) are left alone.

    Returns:
        New (surname, given1, given2) arrays; the inputs are not modified.
    """
    parts = [surname.copy(), given1.copy(), given2.copy()]
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return parts[0], parts[1], parts[2]
    stacked = np.stack([p[rows] for p in parts], axis=1)
    has_alt = np.where(stacked >= 0, TABLES.alt_count[np.maximum(stacked, 0)] > 0, False)
    keys = np.where(has_alt, rng.random(stacked.shape), -1.0)
    position = np.argmax(keys, axis=1)
    ok = has_alt[np.arange(rows.size), position]
    chosen = stacked[np.arange(rows.size), position]
    offset = (rng.random(rows.size) * TABLES.alt_count[chosen]).astype(np.int64)
    replacement = TABLES.alt_flat[
        np.minimum(TABLES.alt_start[chosen] + offset, len(TABLES.alt_flat) - 1)
    ]
    for pos in range(3):
        sel = ok & (position == pos)
        parts[pos][rows[sel]] = replacement[sel]
    return parts[0], parts[1], parts[2]
