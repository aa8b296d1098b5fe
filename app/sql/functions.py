"""The functions a model-written statement may call.

An allow-list, not a deny-list: PostgreSQL ships thousands of functions and new releases add
more, so anything not named here is refused. Everything listed computes a value from its
arguments (or the clock, or a random source) and nothing else: no file, network, setting,
sequence, lock, sleep, catalog or session-state access. A function the database owner defined
in the default schema under one of these names is reachable too (unqualified names resolve
through `pg_catalog, <default schema>`); that is the owner's code, not the model's.

Names are as PostgreSQL's parser reports them: lower case, and the special SQL syntax forms
(`EXTRACT(... FROM ...)`, `TRIM(BOTH ...)`, `x AT TIME ZONE y`, `SIMILAR TO`, ...) appear under
the name of the function they call (`extract`, `btrim`, `timezone`, `similar_to_escape`, ...).
"""
from __future__ import annotations

AGGREGATES = frozenset({
    "any_value", "array_agg", "avg", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or",
    "count", "every", "max", "min", "string_agg", "sum",
    "corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
    "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
    "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
    "mode", "percentile_cont", "percentile_disc", "range_agg", "range_intersect_agg",
    "json_agg", "json_agg_strict", "jsonb_agg", "jsonb_agg_strict",
    "json_object_agg", "json_object_agg_strict", "json_object_agg_unique",
    "json_object_agg_unique_strict", "jsonb_object_agg", "jsonb_object_agg_strict",
    "jsonb_object_agg_unique", "jsonb_object_agg_unique_strict",
})

WINDOW = frozenset({
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
    "lag", "lead", "first_value", "last_value", "nth_value",
})

MATH = frozenset({
    "abs", "cbrt", "ceil", "ceiling", "degrees", "div", "exp", "factorial", "floor", "gcd", "lcm",
    "ln", "log", "log10", "min_scale", "mod", "pi", "power", "radians", "round", "scale", "sign",
    "sqrt", "trim_scale", "trunc", "width_bucket", "random", "random_normal",
    "acos", "asin", "atan", "atan2", "cos", "cot", "sin", "tan", "sinh", "cosh", "tanh",
    "acosd", "asind", "atand", "atan2d", "cosd", "cotd", "sind", "tand",
    "num_nulls", "num_nonnulls",
})

STRING = frozenset({
    "ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat",
    "concat_ws", "format", "initcap", "left", "length", "lower", "lpad", "ltrim", "md5",
    "normalize", "is_normalized", "octet_length", "overlay", "position", "quote_ident",
    "quote_literal", "quote_nullable", "regexp_count", "regexp_instr", "regexp_like",
    "regexp_match", "regexp_matches", "regexp_replace", "regexp_split_to_array",
    "regexp_split_to_table", "regexp_substr", "repeat", "replace", "reverse", "right", "rpad",
    "rtrim", "split_part", "starts_with", "string_to_array", "string_to_table", "strpos",
    "substr", "substring", "to_hex", "translate", "unistr", "upper",
    "encode", "decode", "sha224", "sha256", "sha384", "sha512",
    "similar_to_escape", "like_escape", "gen_random_uuid",
    # pg_trgm, when installed in the default schema
    "similarity", "word_similarity",
})

FORMATTING = frozenset({"to_char", "to_date", "to_number", "to_timestamp"})

DATE_TIME = frozenset({
    "age", "clock_timestamp", "date_add", "date_bin", "date_part", "date_subtract", "date_trunc",
    "extract", "isfinite", "justify_days", "justify_hours", "justify_interval", "make_date",
    "make_interval", "make_time", "make_timestamp", "make_timestamptz", "now", "overlaps",
    "statement_timestamp", "timeofday", "timezone", "transaction_timestamp",
})

# Function-call spellings of casts that models habitually write (`date(created_at)`).
CASTS = frozenset({"date", "text", "numeric", "int2", "int4", "int8", "float4", "float8", "bool"})

SET_RETURNING = frozenset({"generate_series", "generate_subscripts", "unnest"})

JSON = frozenset({
    "to_json", "to_jsonb", "array_to_json", "row_to_json", "json_build_array", "jsonb_build_array",
    "json_build_object", "jsonb_build_object", "json_object", "jsonb_object",
    "json_array_length", "jsonb_array_length", "json_array_elements", "jsonb_array_elements",
    "json_array_elements_text", "jsonb_array_elements_text", "json_each", "jsonb_each",
    "json_each_text", "jsonb_each_text", "json_object_keys", "jsonb_object_keys",
    "json_extract_path", "jsonb_extract_path", "json_extract_path_text",
    "jsonb_extract_path_text", "json_typeof", "jsonb_typeof", "json_strip_nulls",
    "jsonb_strip_nulls", "json_to_record", "jsonb_to_record", "json_to_recordset",
    "jsonb_to_recordset", "jsonb_pretty", "jsonb_set", "jsonb_set_lax", "jsonb_insert",
    "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query", "jsonb_path_query_array",
    "jsonb_path_query_first", "jsonb_path_exists_tz", "jsonb_path_match_tz",
    "jsonb_path_query_tz", "jsonb_path_query_array_tz", "jsonb_path_query_first_tz",
})

ARRAYS = frozenset({
    "array_append", "array_cat", "array_dims", "array_fill", "array_length", "array_lower",
    "array_ndims", "array_position", "array_positions", "array_prepend", "array_remove",
    "array_replace", "array_to_string", "array_upper", "cardinality", "trim_array",
})

RANGES = frozenset({
    "isempty", "lower_inc", "upper_inc", "lower_inf", "upper_inf", "range_merge",
    "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange",
})

TEXT_SEARCH = frozenset({
    "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery",
    "ts_rank", "ts_rank_cd", "ts_headline", "setweight",
})

# pgvector; its distance operators (<->, <=>, <#>) are operators, not calls.
VECTOR = frozenset({
    "cosine_distance", "l2_distance", "l1_distance", "inner_product", "vector_dims",
    "vector_norm", "l2_normalize", "subvector", "hamming_distance", "jaccard_distance",
})

ALLOWED_FUNCTIONS: frozenset[str] = (
    AGGREGATES | WINDOW | MATH | STRING | FORMATTING | DATE_TIME | CASTS | SET_RETURNING | JSON
    | ARRAYS | RANGES | TEXT_SEARCH | VECTOR
)

# Casting text to these looks names up in the system catalogs ('pg_authid'::regclass).
CATALOG_LOOKUP_TYPES = frozenset({
    "regclass", "regcollation", "regconfig", "regdictionary", "regnamespace", "regoper",
    "regoperator", "regproc", "regprocedure", "regrole", "regtype",
})

# PostgreSQL also calls a function written as a field selection: `(x).f`, `alias.col.f`, and
# `alias.f` (when alias is a scalar function in FROM) all mean f(x), with no function call in
# the parse tree. Such names cannot be told from column or field names without the catalog, so
# they are checked against the built-ins reachable that way (one argument, or defaults for the
# rest) that matter: sleeping, locks, files, settings, SQL run from text, sequences, large
# objects and catalog lookups. Calls with two or more required arguments cannot be written so.
_UNSAFE_FIELD_PREFIXES = ("pg_", "lo_", "txid_", "dblink", "to_reg")
_UNSAFE_FIELD_NAMES = CATALOG_LOOKUP_TYPES | {
    "current_setting", "current_schemas", "nextval", "currval", "ts_stat", "ts_debug",
    "obj_description", "row_security_active",
}


def unsafe_as_field(name: str) -> bool:
    """Whether a field-selection name would call a function the guard must refuse."""
    return name in _UNSAFE_FIELD_NAMES or name.startswith(_UNSAFE_FIELD_PREFIXES)
