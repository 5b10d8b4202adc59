"""What the read-only guard lets a query call: functions and operators, by name.

An allowlist, not a denylist: a function that is not named here is refused, so a new server
version or extension cannot slip a side effect past the guard. Every name was chosen because
all of its `pg_catalog` overloads only compute or read (the test suite checks each one's
volatility against a real server). `DENIED_FUNCTIONS` lists functions that must never run
even when a deployment extends the allowlist through the `allowed_functions` setting.
"""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """The whitespace-separated words of a block of names."""
    return text.split()


_AGGREGATES = """
    count sum avg min max array_agg string_agg bool_and bool_or every bit_and bit_or bit_xor
    json_agg jsonb_agg json_object_agg jsonb_object_agg percentile_cont percentile_disc mode
    stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp
    regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy
    xmlagg range_agg range_intersect_agg any_value
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
"""
_MATH = """
    abs ceil ceiling floor round trunc sqrt cbrt exp ln log log10 power pow mod sign div
    width_bucket pi degrees radians sin cos tan asin acos atan atan2 sind cosd tand sinh cosh
    tanh gcd lcm factorial scale min_scale trim_scale numeric int2 int4 int8 float4 float8
    random random_normal
"""
_STRINGS = """
    length char_length character_length octet_length bit_length lower upper initcap substr
    substring left right position strpos replace translate btrim ltrim rtrim lpad rpad concat
    concat_ws split_part string_to_array array_to_string string_to_table regexp_replace
    regexp_match regexp_matches regexp_split_to_table regexp_split_to_array regexp_count
    regexp_like regexp_substr regexp_instr similar_to_escape format to_char to_number md5
    sha224 sha256 sha384 sha512 encode decode repeat reverse starts_with quote_ident
    quote_literal quote_nullable chr ascii overlay normalize is_normalized unistr
    convert_from convert_to text varchar bpchar to_hex get_byte get_bit bit_count
    parse_ident
"""
_TIME = """
    now clock_timestamp statement_timestamp transaction_timestamp timeofday date_trunc
    date_part extract age make_interval make_date make_time make_timestamp make_timestamptz
    date_bin to_timestamp to_date timezone justify_days justify_hours justify_interval
    isfinite date_add date_subtract date timestamp timestamptz interval time timetz overlaps
    generate_series
"""
_JSON = """
    to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object
    json_build_array jsonb_build_array json_object jsonb_object json_array_elements
    jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_each jsonb_each
    json_each_text jsonb_each_text json_object_keys jsonb_object_keys json_extract_path
    jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_typeof jsonb_typeof
    jsonb_pretty json_array_length jsonb_array_length json_strip_nulls jsonb_strip_nulls
    jsonb_set jsonb_set_lax jsonb_insert json_populate_record jsonb_populate_record
    json_populate_recordset jsonb_populate_recordset json_to_record jsonb_to_record
    json_to_recordset jsonb_to_recordset jsonb_path_exists jsonb_path_match jsonb_path_query
    jsonb_path_query_array jsonb_path_query_first jsonb_path_exists_tz jsonb_path_query_tz
    jsonb_path_query_array_tz jsonb_path_query_first_tz xpath xpath_exists xmlexists
    xml_is_well_formed xmltext
"""
_ARRAYS = """
    array_length cardinality unnest array_position array_positions array_remove array_replace
    array_append array_prepend array_cat array_dims array_lower array_upper array_ndims
    array_fill generate_subscripts array_sample array_shuffle trim_array
    lower_inc upper_inc lower_inf upper_inf isempty range_merge
    host hostmask masklen netmask network broadcast family abbrev inet_same_family inet_merge
    set_masklen
"""
_CATALOG = """
    num_nonnulls num_nulls pg_typeof format_type
    current_database current_schema current_schemas current_user session_user current_setting
    current_query version inet_client_addr inet_client_port inet_server_addr inet_server_port
    pg_backend_pid pg_postmaster_start_time pg_conf_load_time pg_jit_available
    pg_get_viewdef pg_get_indexdef pg_get_constraintdef pg_get_functiondef
    pg_get_function_arguments pg_get_function_result pg_get_function_identity_arguments
    pg_get_triggerdef pg_get_ruledef pg_get_statisticsobjdef pg_get_expr pg_get_userbyid
    pg_get_serial_sequence pg_get_keywords pg_get_partkeydef pg_tablespace_location
    has_table_privilege has_schema_privilege has_database_privilege has_column_privilege
    has_any_column_privilege has_function_privilege has_sequence_privilege
    has_tablespace_privilege has_type_privilege has_language_privilege has_parameter_privilege
    pg_has_role obj_description col_description shobj_description to_regclass to_regtype
    to_regproc to_regprocedure to_regoper to_regoperator to_regnamespace to_regrole
    to_regcollation pg_table_is_visible pg_type_is_visible pg_function_is_visible
    pg_relation_is_updatable pg_column_is_updatable pg_collation_for pg_encoding_to_char
    pg_relation_filenode pg_relation_filepath pg_filenode_relation pg_column_size
    pg_column_compression pg_size_pretty pg_size_bytes pg_relation_size pg_table_size
    pg_indexes_size pg_total_relation_size pg_database_size pg_tablespace_size
    pg_partition_tree pg_partition_ancestors pg_partition_root
    pg_blocking_pids pg_safe_snapshot_blocking_pids pg_lock_status
    pg_is_in_recovery pg_is_wal_replay_paused pg_get_wal_replay_pause_state
    pg_last_wal_receive_lsn pg_last_wal_replay_lsn pg_last_xact_replay_timestamp
    pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn pg_wal_lsn_diff
    pg_walfile_name pg_walfile_name_offset pg_control_checkpoint pg_control_system
    pg_control_recovery pg_control_init pg_xact_status txid_status txid_current_if_assigned
    pg_current_snapshot pg_snapshot_xmin pg_snapshot_xmax pg_snapshot_xip
    pg_visible_in_snapshot age mxid_age pg_notification_queue_usage
    pg_stat_get_backend_pid pg_stat_get_backend_activity pg_stat_get_backend_activity_start
    pg_stat_get_backend_xact_start pg_stat_get_backend_wait_event
    pg_stat_get_backend_wait_event_type pg_stat_get_activity pg_stat_get_numscans
    pg_stat_get_live_tuples pg_stat_get_dead_tuples pg_stat_get_last_autovacuum_time
    pg_stat_get_last_vacuum_time pg_stat_get_last_analyze_time
    pg_stat_get_last_autoanalyze_time bool gen_random_uuid uuid_extract_timestamp
    uuid_extract_version
"""

READ_FUNCTIONS: frozenset[str] = frozenset(
    words(" ".join((_AGGREGATES, _MATH, _STRINGS, _TIME, _JSON, _ARRAYS, _CATALOG))))

# Volatile in pg_catalog, and reviewed: they read clocks, randomness, statistics, sizes or
# replication positions, and change nothing.
REVIEWED_VOLATILE: frozenset[str] = frozenset(words("""
    clock_timestamp timeofday random random_normal gen_random_uuid pg_blocking_pids
    pg_safe_snapshot_blocking_pids pg_lock_status pg_is_in_recovery pg_is_wal_replay_paused
    pg_get_wal_replay_pause_state pg_last_wal_receive_lsn pg_last_wal_replay_lsn
    pg_last_xact_replay_timestamp pg_current_wal_lsn pg_current_wal_insert_lsn
    pg_current_wal_flush_lsn pg_relation_size pg_table_size pg_indexes_size
    pg_total_relation_size pg_database_size pg_tablespace_size pg_partition_tree
    pg_partition_ancestors pg_jit_available pg_notification_queue_usage pg_xact_status
    txid_status pg_control_checkpoint pg_control_system pg_control_recovery pg_control_init
    current_query
"""))

# Never callable, whatever `allowed_functions` says: each one acts on the server, another
# session, the file system or another database, or waits on purpose.
_DENIED_EXACT = frozenset(words("""
    pg_sleep pg_sleep_for pg_sleep_until pg_terminate_backend pg_cancel_backend pg_reload_conf
    set_config setseed nextval setval currval lastval pg_notify pg_switch_wal pg_promote
    pg_rotate_logfile pg_rotate_logfile_old pg_read_file pg_read_file_old pg_read_binary_file
    pg_stat_file pg_current_logfile pg_export_snapshot pg_import_system_collations
    pg_log_backend_memory_contexts txid_current pg_current_xact_id gin_clean_pending_list
    brin_summarize_range brin_summarize_new_values brin_desummarize_range pg_wal_replay_pause
    pg_wal_replay_resume pg_stat_clear_snapshot pg_stat_force_next_flush ts_stat ts_rewrite
    loread lowrite pg_file_write pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls
    pg_create_restore_point pg_drop_replication_slot pg_replication_slot_advance
    pg_nextoid pg_stop_making_pinned_objects
"""))
_DENIED_PATTERN = re.compile(
    r"^(?:dblink.*|lo_.*|pg_(?:try_)?advisory.*|pg_ls_.*|pg_stat_reset.*|pg_stat_statements_reset"
    r"|pg_create_.*|pg_copy_.*replication_slot|pg_logical_.*|pg_replication_origin_.*"
    r"|pg_backup_.*|binary_upgrade_.*|(?:query|cursor|table|schema|database)_to_xml.*)$")


def denied_reason(name: str) -> str | None:
    """Why a function (bare name, lower case) may never run here, or None."""
    if name in _DENIED_EXACT or _DENIED_PATTERN.match(name):
        return _DENIED_WHY.get(_family(name), "it acts on the server rather than reading")
    return None


def _family(name: str) -> str:
    """The family a denied function belongs to, for its reason."""
    for prefix in ("pg_sleep", "dblink", "lo_", "pg_read", "pg_ls_", "pg_stat_file", "pg_file",
                   "pg_terminate", "pg_cancel", "set_config", "nextval", "setval",
                   "pg_advisory", "pg_try_advisory", "query_to_xml", "cursor_to_xml",
                   "table_to_xml", "schema_to_xml", "database_to_xml", "ts_stat", "ts_rewrite"):
        if name.startswith(prefix):
            return prefix
    return name


_DENIED_WHY = {
    "pg_sleep": "it only waits, holding a connection",
    "dblink": "it opens a connection that escapes the read-only transaction",
    "lo_": "it reads or writes large objects and server files",
    "pg_read": "it reads files on the database server",
    "pg_ls_": "it lists files on the database server",
    "pg_stat_file": "it reads files on the database server",
    "pg_file": "it writes files on the database server",
    "pg_terminate": "it terminates another session",
    "pg_cancel": "it cancels another session's query",
    "set_config": "it changes session settings (timeouts, read-only mode)",
    "nextval": "it advances a sequence",
    "setval": "it changes a sequence",
    "pg_advisory": "it takes advisory locks other sessions wait on",
    "pg_try_advisory": "it takes advisory locks other sessions wait on",
    "query_to_xml": "it runs an arbitrary SQL string",
    "cursor_to_xml": "it reads from a cursor by name",
    "table_to_xml": "it runs SQL built from its arguments",
    "schema_to_xml": "it runs SQL built from its arguments",
    "database_to_xml": "it runs SQL built from its arguments",
    "ts_stat": "it runs an arbitrary SQL string",
    "ts_rewrite": "it runs an arbitrary SQL string",
    "pg_reload_conf": "it reloads the server configuration",
    "pg_notify": "it sends notifications to listening sessions",
}

# Every operator symbol defined in pg_catalog (all backed by immutable or stable functions).
READ_OPERATORS: frozenset[str] = frozenset(words("""
    !! !~ !~* !~~ !~~* # ## #- #> #>> % & && &< &<| &> * *< *<= *<> *= *> *>= + - -> ->> -|- /
    < <-> << <<= <<| <= <> <@ <^ = > >= >> >>= >^ ? ?# ?& ?- ?-| ?| ?|| @ @-@ @> @? @@ @@@ ^ ^@
    | |&> |/ |>> || ||/ ~ ~* ~<=~ ~<~ ~= ~>=~ ~>~ ~~ ~~* !=
"""))

# Catalogs that hold credentials (password hashes, user-mapping and subscription passwords).
SECRET_RELATIONS: frozenset[str] = frozenset(
    {"pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_subscription"})
