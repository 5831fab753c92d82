/*
 * vega.h: the C ABI of libvega, the NativeAOT engine behind the vegafs Python package.
 *
 * This header is the one statement of the boundary. The Python package builds its cffi
 * declarations from the section between the CDEF markers below (plain C, no macros but
 * integer #defines), and tests/test_abi.py checks that the built library exports exactly
 * the functions declared here.
 *
 * Rules (docs/architecture.md explains each):
 *  - Every function returns an int32_t status (VEGA_OK = 0) and writes results through
 *    out-pointers. On failure, vega_error_last() on the same thread describes the error.
 *  - Paths are byte strings with an explicit length (no NUL inside); they are never decoded.
 *  - Results come in bulk: one call fills one vega_batch (freed with vega_batch_free) or one
 *    vega_report (freed with vega_report_free). Nothing else returned by the library is owned
 *    by the caller.
 *  - Long work is a job: start -> next/progress (poll) -> free, with cancel from any thread.
 *    Jobs, glob sets, file sources and hashers are int64_t ids; a stale id gives
 *    VEGA_ERR_INVALID_ARGUMENT, never a crash.
 *  - The library must never be unloaded (it is linked with -z nodelete); after fork() it
 *    must not be called in the child.
 */
#ifndef VEGA_H
#define VEGA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* BEGIN CDEF */
#define VEGA_ABI_VERSION 10

/* SIMD capabilities of the loaded library's code on this CPU (vega_simd_features). */
#define VEGA_SIMD_VECTOR128 1   /* 128-bit vector operations are hardware accelerated */
#define VEGA_SIMD_VECTOR256 2   /* 256-bit vector operations are hardware accelerated */
#define VEGA_SIMD_VECTOR512 4   /* 512-bit vector operations are hardware accelerated */
#define VEGA_SIMD_AVX2 8        /* the AVX2 kernels run (XXH3, vector distances) */
#define VEGA_SIMD_FMA 16        /* fused multiply-add runs (vector distances) */
#define VEGA_SIMD_ADVSIMD 32    /* Arm64 Advanced SIMD */

/* Status codes. */
#define VEGA_OK 0
#define VEGA_ERR_INVALID_ARGUMENT 1
#define VEGA_ERR_NOT_FOUND 2
#define VEGA_ERR_PERMISSION 3
#define VEGA_ERR_NOT_A_DIRECTORY 4
#define VEGA_ERR_OS 5
#define VEGA_ERR_CANCELLED 6
#define VEGA_ERR_INTERNAL 7

/* Walk outputs: what each group of a batch carries. */
#define VEGA_WALK_NAMES 0   /* directory path, then entry names (directories first) */
#define VEGA_WALK_PATHS 1   /* directory path, then entry full paths (directories first) */
#define VEGA_WALK_COUNT 2   /* no listing: totals via vega_walk_totals, groups only for errors */

/* Walk flags. */
#define VEGA_WALK_FOLLOW_LINKS 1    /* descend into symlinks to directories (loops reported as ELOOP) */
#define VEGA_WALK_STAT 2            /* lstat each entry: fills vega_batch.stats */
#define VEGA_WALK_CLASSIFY_LINKS 4  /* count symlinks to directories as directories, as os.walk does */
#define VEGA_WALK_GITIGNORE 8       /* leave out what .gitignore, .ignore and .git/info/exclude ignore, and .git */

/* Glob set flags. */
#define VEGA_GLOB_IGNORE_CASE 1     /* fold case (Unicode simple case folding) */
#define VEGA_GLOB_ANCHOR_SLASH 2    /* a leading '/' anchors a glob at the root of relative paths (walk filters) */

/* Entry kinds (vega_batch.kinds), from lstat. */
#define VEGA_KIND_UNKNOWN 0
#define VEGA_KIND_FILE 1
#define VEGA_KIND_DIRECTORY 2
#define VEGA_KIND_SYMLINK 3
#define VEGA_KIND_FIFO 4
#define VEGA_KIND_SOCKET 5
#define VEGA_KIND_CHAR_DEVICE 6
#define VEGA_KIND_BLOCK_DEVICE 7

#define VEGA_GROUP_FIELDS 6  /* id, parent id (-1: root), directory count, entry count, errno, index in parent's directories */
#define VEGA_STAT_FIELDS 6   /* size, mtime_ns, mode, inode, device, nlink; all -1 if the entry vanished */
#define VEGA_PROGRESS_FIELDS 4  /* per job kind: see vega_job_progress */
#define VEGA_TOTALS_FIELDS 7    /* files, directories, symlinks, others, apparent bytes, disk bytes, errors */

/*
 * The tables of an analysis report (vega_report.tables[k].kind == k), with their int64 columns
 * per row. "text" is the row's one string: a path (as walked: root + relative path),
 * an extension or a folder name, as raw bytes. "files" are regular files (lstat); depth 1 is the
 * root's entries. Ranked tables hold at most top_n rows, best first, ties by text bytes ascending.
 */
#define VEGA_TABLE_TOTALS 0         /* one row, no text: VEGA_REPORT_TOTALS_FIELDS values below */
#define VEGA_TABLE_EXTENSIONS 1     /* every extension (".gz", or "" for none; not case-folded): files, bytes, disk bytes */
#define VEGA_TABLE_LARGEST 2        /* files by size, descending: size, mtime_ns; text path */
#define VEGA_TABLE_SMALLEST 3       /* files by size, ascending: size, mtime_ns; text path */
#define VEGA_TABLE_NEWEST 4         /* files by mtime, newest first: size, mtime_ns; text path */
#define VEGA_TABLE_OLDEST 5         /* files by mtime, oldest first: size, mtime_ns; text path */
#define VEGA_TABLE_EMPTY_FOLDERS 6  /* every readable directory with no entries, by path: depth; text path */
#define VEGA_TABLE_DEPTHS 7         /* per depth 0..max, no text: depth, directories, files, file bytes (root at depth 0) */
#define VEGA_TABLE_FOLDERS_BY_FILES 8  /* directories by files directly inside: files, subtree files, subtree bytes, subtree disk bytes; text path */
#define VEGA_TABLE_FOLDERS_BY_SIZE 9   /* directories by subtree bytes (du -sb of each): same columns */
#define VEGA_TABLE_FOLDER_NAMES 10  /* directory names by how many directories have them: count; text name */
#define VEGA_TABLE_ERRORS 11        /* every error, by path: errno; text path */
#define VEGA_TABLE_COUNT 12
/* files, directories (below the root), symlinks, others, apparent bytes, disk bytes (both with the
   root, hard links once), file bytes, empty files, empty folders, max depth, vanished (entries gone
   between being listed and being examined: not errors, not counted), errors */
#define VEGA_REPORT_TOTALS_FIELDS 12

/*
 * A run of directory groups in stream order (a parent group always precedes its children's).
 * blob holds, per group, the directory path and then entry_count strings, each NUL-terminated.
 * A group with errno != 0 could not be read: it has no entries and its blob string is its path.
 * Owned by the caller; one vega_batch_free releases the header and every array.
 */
typedef struct vega_batch {
    int64_t group_count;
    const int64_t* groups;   /* group_count * VEGA_GROUP_FIELDS */
    int64_t entry_count;
    const uint8_t* kinds;    /* entry_count */
    const int64_t* stats;    /* entry_count * VEGA_STAT_FIELDS, or NULL without VEGA_WALK_STAT */
    int64_t blob_size;
    const uint8_t* blob;
} vega_batch;

/*
 * One table of results: rows * columns int64 values, and rows * text_columns byte strings (a path, a
 * hex digest, a line: raw bytes). String j of row i starts at text + text_offsets[k], k = i *
 * text_columns + j, and is followed by one NUL that is not part of it: its length is
 * text_offsets[k + 1] - text_offsets[k] - 1. So strings that cannot contain NUL (paths, digests)
 * split in one pass; others (lines of binary files) are read by their offsets.
 */
typedef struct vega_table {
    int32_t kind;                /* VEGA_TABLE_* */
    int32_t columns;
    int64_t rows;
    const int64_t* values;
    int32_t text_columns;        /* 0: no strings (text_offsets and text are NULL) */
    int32_t reserved;
    const int64_t* text_offsets; /* rows * text_columns + 1 ascending offsets */
    const uint8_t* text;
} vega_table;

/* A set of tables in one block owned by the caller and released by vega_report_free: an analysis
   report (VEGA_TABLE_COUNT tables in VEGA_TABLE_* order) or one result set of a file job. */
typedef struct vega_report {
    int64_t table_count;
    const vega_table* tables;
} vega_report;

/* The ABI version the library was built with; must equal VEGA_ABI_VERSION. */
int32_t vega_abi_version(void);

/* What SIMD code the library runs on this CPU (VEGA_SIMD_* bits): a NativeAOT build compiles
   instruction sets in or out, so the same source gives different kernels in different builds. */
uint32_t vega_simd_features(void);

/* The library's version text (UTF-8, static: not freed). */
int32_t vega_library_version(const uint8_t** text, size_t* length);

/*
 * The last error on the calling thread: errno (0 if not an OS error), a UTF-8 message and the
 * path concerned (NULL if none). The pointers stay valid until the next failing call on this thread.
 */
int32_t vega_error_last(int32_t* os_errno, const uint8_t** message, size_t* message_length,
                        const uint8_t** path, size_t* path_length);

/*
 * Starts a parallel walk of root. The root is opened before this returns, so a missing root,
 * a non-directory or a permission error is reported here. threads = 0: one per processor.
 * max_depth = 0: unlimited; else the deepest entry depth listed (root's entries have depth 1).
 * include, exclude: glob sets (0: none) matched against each entry's path relative to root.
 * Only included entries are listed (directories are still descended, and with VEGA_WALK_NAMES
 * still listed); excluded entries are left out and excluded directories are not descended.
 * The walk keeps its own reference: the sets may be freed while it runs.
 */
int32_t vega_walk_start(const uint8_t* root, size_t root_length, int32_t output, int32_t flags,
                        int32_t max_depth, int32_t threads, int64_t include, int64_t exclude,
                        int64_t* job);

/*
 * Waits up to timeout_ms (-1: forever) for the next batch. *batch is NULL when the wait timed out
 * or the walk is finished; *finished tells which. VEGA_ERR_CANCELLED after vega_job_cancel.
 */
int32_t vega_walk_next(int64_t job, int32_t timeout_ms, vega_batch** batch, int32_t* finished);

/* Totals of a VEGA_WALK_COUNT walk: VEGA_TOTALS_FIELDS int64 values, final once finished. */
int32_t vega_walk_totals(int64_t job, int64_t* totals);

/*
 * Starts an analysis: a walk like vega_walk_start that lists nothing and builds a report, in
 * the same parallel pass, with top_n rows in each ranked table. include selects files only
 * (every directory not excluded is in the report); exclude and flags act as for a walk.
 * Drive it with vega_walk_next (which yields no batches) until finished, then vega_walk_report.
 * Errors (unreadable directories, failed lstat, link loops) are rows of the report, not groups.
 */
int32_t vega_analyze_start(const uint8_t* root, size_t root_length, int32_t flags, int32_t max_depth,
                           int32_t threads, int64_t include, int64_t exclude, int32_t top_n, int64_t* job);

/* The report of a finished analysis; VEGA_ERR_INVALID_ARGUMENT before it has finished. */
int32_t vega_walk_report(int64_t job, vega_report** report);

/* Releases a report returned by vega_walk_report. */
int32_t vega_report_free(vega_report* report);

/* Releases a batch returned by vega_walk_next. */
int32_t vega_batch_free(vega_batch* batch);

/*
 * Compiles count globs, given as count NUL-terminated strings filling patterns[0..size), into a set.
 * An invalid glob gives VEGA_ERR_INVALID_ARGUMENT with a message naming it and the position.
 * Glob syntax and matching rules: docs/patterns.md. Free the set with vega_globset_free.
 */
int32_t vega_globset_new(const uint8_t* patterns, size_t size, int32_t count, int32_t flags, int64_t* set);

/*
 * Matches count (>= 1) paths in one call (in parallel for long lists). paths[0..size) holds them
 * separated by single NULs (no NUL after the last; a NUL too many is VEGA_ERR_INVALID_ARGUMENT).
 * matched[i] (caller-owned, count bytes) becomes 1 if any glob matches path i, else 0; indices
 * (caller-owned, count values, or NULL) receives the matching i ascending; *found is how many.
 * A path ending in '/' is a directory (globs ending in '/' match only directories).
 */
int32_t vega_globset_match(int64_t set, const uint8_t* paths, size_t size, int64_t count,
                           uint8_t* matched, int64_t* indices, int64_t* found);

/*
 * The indices of every glob that matches one path, ascending: the first min(*found, capacity) are
 * written to indices (caller-owned); *found is their total number.
 */
int32_t vega_globset_which(int64_t set, const uint8_t* path, size_t length, int32_t* indices,
                           int32_t capacity, int32_t* found);

/* Releases a glob set. */
int32_t vega_globset_free(int64_t set);
/*
 * Every job (walks, analyses, file jobs):
 * progress counters so far, VEGA_PROGRESS_FIELDS int64 values. Walks and analyses: directories read,
 * entries seen, bytes seen (with STAT), errors. Hash jobs: files hashed, bytes hashed, errors,
 * directories read. Duplicate jobs: stage (1 sizes, 2 partial hashes, 3 full hashes, 4 done), files
 * examined, bytes hashed, errors.
 */
int32_t vega_job_progress(int64_t job, int64_t* counters);

/* Asks a job to stop; safe from any thread while another waits in vega_walk_next or vega_job_next. */
int32_t vega_job_cancel(int64_t job);

/* Cancels if running, waits briefly for the workers, and releases the job id. */
int32_t vega_job_free(int64_t job);

/*
 * Cancel tokens (ABI 9). A long call that is not a job takes one as its `cancel` argument (0: none);
 * vega_cancel_set, from any thread, makes it stop within ~50 ms of work with VEGA_ERR_CANCELLED and
 * leave what it was changing as it was. A token may be freed once no call uses it.
 */
int32_t vega_cancel_new(int64_t* token);
int32_t vega_cancel_set(int64_t token);
int32_t vega_cancel_free(int64_t token);

/* Hash algorithms. The OpenSSL ones need the system's libcrypto (OpenSSL 3 or 1.1) at run time. */
#define VEGA_HASH_SHA256 0
#define VEGA_HASH_SHA1 1
#define VEGA_HASH_MD5 2
#define VEGA_HASH_BLAKE2B 3     /* BLAKE2b-512, as hashlib.blake2b() */
#define VEGA_HASH_XXH64 4
#define VEGA_HASH_XXH3_64 5
#define VEGA_HASH_XXH3_128 6
#define VEGA_HASH_CRC32 7       /* zlib.crc32, big-endian */
#define VEGA_HASH_MAX_DIGEST 64

/* Result tables of file jobs (vega_job_next). */
#define VEGA_TABLE_HASHES 20     /* index, bytes hashed, errno (0: ok); texts: path, digest (empty on error) */
#define VEGA_TABLE_DUPLICATES 21 /* group, size, device, inode; texts: path, digest. Groups by wasted bytes, paths by bytes */
#define VEGA_TABLE_FILE_ERRORS 22 /* errno (VEGA_ERRNO_CHANGED: changed while read); text: path */
#define VEGA_ERRNO_CHANGED -1

/*
 * File sources: the files a file job works on. A source is given to exactly one job, which takes it
 * over (its id is then no longer valid); vega_files_free releases one that was never used.
 * A list holds count (>= 1) paths separated by single NULs (as for vega_globset_match). A tree is
 * walked like vega_walk_start (same flags, depth, filters; the root is checked here) and yields its
 * regular files (and with VEGA_WALK_FOLLOW_LINKS, what symlinks lead to); an entry that vanishes or
 * stops being a regular file before it is opened is left out. Unreadable directories become error rows.
 * VEGA_WALK_STAT makes the walk lstat every entry, so jobs learn sizes without opening files: use it
 * for vega_dupes_start (whose first stage is sizes), not for jobs that open every file anyway.
 */
int32_t vega_files_list(const uint8_t* paths, size_t size, int64_t count, int64_t* source);
int32_t vega_files_tree(const uint8_t* root, size_t root_length, int32_t flags, int32_t max_depth,
                        int32_t threads, int64_t include, int64_t exclude, int64_t* source);
int32_t vega_files_free(int64_t source);

/*
 * Hashes every file of a source in parallel (threads = 0: one per processor). Results stream as
 * VEGA_TABLE_HASHES tables through vega_job_next, in no particular order (index says which file).
 * An unavailable algorithm is VEGA_ERR_INVALID_ARGUMENT with a message saying why.
 */
int32_t vega_hash_start(int64_t source, int32_t algorithm, int32_t threads, int64_t* job);

/*
 * Groups files with identical content: by size (>= min_size), then XXH3-128 of the first 4 KiB, then
 * algorithm over the whole file. One result set at the end: VEGA_TABLE_DUPLICATES, VEGA_TABLE_FILE_ERRORS.
 */
int32_t vega_dupes_start(int64_t source, int32_t algorithm, int64_t min_size, int32_t threads, int64_t* job);

/*
 * Waits up to timeout_ms (-1: forever) for a file job's next result set. *report is NULL when the
 * wait timed out or the job is finished; *finished tells which. Free each set with vega_report_free.
 */
int32_t vega_job_next(int64_t job, int32_t timeout_ms, vega_report** report, int32_t* finished);

/* An incremental hasher over caller buffers (for data that is not a local file). */
int32_t vega_hasher_new(int32_t algorithm, int64_t* hasher);
int32_t vega_hasher_update(int64_t hasher, const uint8_t* data, size_t size);
/* Writes the digest (capacity >= VEGA_HASH_MAX_DIGEST is always enough) and resets the hasher. */
int32_t vega_hasher_digest(int64_t hasher, uint8_t* digest, size_t capacity, size_t* length);
int32_t vega_hasher_free(int64_t hasher);

/*
 * Search (docs/search.md). A searcher is a compiled set of count (>= 1) patterns, NUL-terminated in
 * patterns[0..size) and decoded like file text (UTF-8; a byte that is not UTF-8 stands for itself).
 * A pattern holding newlines is several patterns. The regex engine runs in linear time in the text;
 * a pattern it refuses (invalid, or a backreference or lookaround) is VEGA_ERR_INVALID_ARGUMENT with
 * *error_pattern (index) and *error_position (char offset in that pattern) set; else both are -1.
 */
#define VEGA_SEARCH_FIXED_STRINGS 1 /* patterns are literal text */
#define VEGA_SEARCH_IGNORE_CASE 2
#define VEGA_SEARCH_SMART_CASE 4    /* a pattern without uppercase letters ignores case */
int32_t vega_search_compile(const uint8_t* patterns, size_t size, int32_t count, int32_t flags,
                            int64_t* searcher, int32_t* error_pattern, int32_t* error_position);
int32_t vega_searcher_free(int64_t searcher);

#define VEGA_SEARCH_COUNT 1   /* only count matching lines per file: no line or span tables */
#define VEGA_SEARCH_BINARY 2  /* search files holding NUL bytes as text (else they are skipped) */
typedef struct vega_search_options {
    int32_t flags;        /* VEGA_SEARCH_COUNT, VEGA_SEARCH_BINARY */
    int32_t before;       /* context lines before each matching line */
    int32_t after;        /* context lines after */
    int32_t reserved;     /* 0 */
    int64_t max_count;    /* matching lines per file, then the file stops (0: no limit) */
    int64_t max_filesize; /* larger files are skipped (0: no limit) */
} vega_search_options;

/* Result tables of searches. A result set holds FILES, then (unless VEGA_SEARCH_COUNT) LINES and SPANS. */
#define VEGA_TABLE_SEARCH_FILES 23 /* file id, index, matching lines, errno, flags; text: path */
#define VEGA_TABLE_SEARCH_LINES 24 /* file id, line number (from 1), byte offset of the line, 1 match / 0 context,
                                      first span row (in this set's SPANS), span count; text: the line without "\n" */
#define VEGA_TABLE_SEARCH_SPANS 25 /* start, end: byte offsets of a match in its line; no text */
#define VEGA_SEARCH_FILE_FINAL 1      /* the file's last row: its counts are complete */
#define VEGA_SEARCH_FILE_BINARY 2     /* a NUL byte was read: the file was skipped from that chunk on */
#define VEGA_SEARCH_FILE_MAX_COUNT 4  /* stopped at max_count matching lines */
#define VEGA_SEARCH_FILE_TOO_LARGE 8  /* larger than max_filesize: not searched */
#define VEGA_ERRNO_LINE_TOO_LONG -2   /* a line longer than 128 MiB: the file stopped there */

/*
 * Searches the files of a source in parallel (threads = 0: one per processor); the job takes the
 * source over. Result sets stream through vega_job_next; a file appears in a FILES row of every set
 * holding its lines, and a final row once done (files without a match, error or flag have none). Its
 * rows come in line order; rows of different files interleave only for files with many lines.
 * Progress counters: files searched, bytes read, errors, directories read.
 */
int32_t vega_search_start(int64_t source, int64_t searcher, const vega_search_options* options,
                          int32_t threads, int64_t* job);

/* Searches one caller buffer as a file named path (file id 0, index 0): every row in one report.
   cancel: a cancel token (vega_cancel_new) or 0. */
int32_t vega_search_buffer(int64_t searcher, const uint8_t* data, size_t size, const uint8_t* path,
                           size_t path_length, const vega_search_options* options, int64_t cancel,
                           vega_report** report);

/*
 * Vector stores (docs/vectors.md). A store is a directory of immutable segment files and a MANIFEST;
 * each add is durable when it returns. Rows are int64 handles valid while the store is open.
 * Errors: a store that is corrupted, truncated or of a newer format is VEGA_ERR_INVALID_ARGUMENT
 * with errno EIO (5) and a message naming the file; a store already open for writing is
 * INVALID_ARGUMENT with errno EBUSY (16); a refused id (duplicate, unknown) is INVALID_ARGUMENT with
 * errno 0 or VEGA_STORE_UNKNOWN_ID. Calls may run on several threads; queries never wait for an add.
 * An HNSW index covers a prefix of the rows (vega_store_index extends it); rows past it are searched
 * exactly, so results never miss a row the index has not reached yet.
 */
#define VEGA_METRIC_COSINE 0   /* 1 - cos; vectors are stored normalized */
#define VEGA_METRIC_L2 1       /* squared euclidean distance */
#define VEGA_METRIC_IP 2       /* 1 - dot */
#define VEGA_STORE_CREATE 1    /* create the store if the directory has none (dim and metric needed) */
#define VEGA_STORE_READONLY 2  /* no write lock: queries only */
#define VEGA_STORE_UPSERT 1    /* vega_store_add: replace rows whose id exists */
#define VEGA_STORE_MISSING_OK 1 /* vega_store_delete: skip unknown ids instead of refusing the call */
#define VEGA_STORE_UNKNOWN_ID 3
#define VEGA_STORE_INFO_FIELDS 11 /* dim, metric, live rows, segments, read-only, index kind, M,
                                     ef_construction, ef, indexed rows, pending rows */
#define VEGA_INDEX_FLAT 0      /* exact search only */
#define VEGA_INDEX_HNSW 1      /* an HNSW graph (m, ef_construction, ef) */
#define VEGA_SEARCH_EXACT 1    /* vega_store_search: compare every row even when the store has a graph */
#define VEGA_SNAPSHOT_CREATE 0
#define VEGA_SNAPSHOT_RESTORE 1
#define VEGA_SNAPSHOT_DELETE 2

typedef struct vega_index_options {
    int32_t kind;            /* VEGA_INDEX_* */
    int32_t m;               /* HNSW: links per node (level 0 keeps 2m), 2..256 */
    int32_t ef_construction; /* HNSW: beam width while inserting */
    int32_t ef;              /* HNSW: default beam width of a search, saved with the index */
} vega_index_options;
#define VEGA_TABLE_STORE_ROWS 30 /* row; texts: id, metadata JSON, document (empty for row -1) */


/* path: UTF-8 directory. dim 0 / metric -1: take them from the existing store. index NULL keeps the
   store's index (none for a new store); another kind or m/ef_construction starts a new, empty graph.
   A store directory is not trusted: every name its manifest gives must be one the store writes, no file
   is followed through a symlink, and every count and offset in a file is checked against its size. A
   directory with segment files but no MANIFEST is refused (EIO) instead of becoming an empty store. */
int32_t vega_store_open(const uint8_t* path, size_t length, int32_t dim, int32_t metric, int32_t flags,
                        const vega_index_options* index, int64_t cancel, int64_t* store);
int32_t vega_store_info(int64_t store, int64_t* info);
/* vectors: count x dim float32, row-major. ids: count NUL-terminated UTF-8 strings; metadata (JSON
   texts) and documents likewise, or NULL for none. All or nothing. */
int32_t vega_store_add(int64_t store, const float* vectors, int64_t count, const uint8_t* ids, size_t ids_size,
                       const uint8_t* metadata, size_t metadata_size, const uint8_t* documents,
                       size_t documents_size, int32_t flags, int64_t cancel);
/* k nearest live rows of each query (count x dim): count x k distances (ascending) and rows; slots
   past the rows found get +inf and -1. Exact without a graph or with VEGA_SEARCH_EXACT; otherwise the
   graph with beam width max(ef, k) (ef 0: the saved one). filter (NULL: none) is a JSON metadata filter
   (docs/vectors.md: equality, $in/$nin, $ne, $gt/$gte/$lt/$lte, $and/$or), applied during the search.
   report (NULL: none) gets the VEGA_TABLE_STORE_ROWS table of the count x k rows, read from the same
   state as the search (a fetch after it could see a compaction or delete in between). */
int32_t vega_store_search(int64_t store, const float* queries, int64_t count, int32_t k, const uint8_t* filter,
                          size_t filter_length, int32_t threads, int32_t ef, int32_t flags, int64_t cancel,
                          float* distances, int64_t* rows, vega_report** report);
/* The rows of count ids (NUL-terminated strings) in one consistent read: each id's row (-1 where
   unknown), its stored vector (count x dim; zeros for -1) and one VEGA_TABLE_STORE_ROWS table. */
int32_t vega_store_get(int64_t store, const uint8_t* ids, size_t size, int64_t count, int64_t* rows,
                       float* vectors, vega_report** report);
int32_t vega_store_delete(int64_t store, const uint8_t* ids, size_t size, int64_t count, int32_t flags, int64_t* deleted);
/* Inserts up to max_rows rows not yet in the HNSW graph; *pending gets how many remain (0 without a
   graph). Bounded work per call, so a caller can show progress and stop between calls. */
int32_t vega_store_index(int64_t store, int64_t max_rows, int32_t threads, int64_t cancel, int64_t* pending);
/* Saves the HNSW graph if the last checkpoint lacks rows (rows themselves are durable at each add). */
int32_t vega_store_flush(int64_t store);
/* Rewrites live rows into one segment; *reclaimed gets the deleted rows dropped. With deletions the
   rows are renumbered and the graph starts again empty (vega_store_index rebuilds it). */
int32_t vega_store_compact(int64_t store, int64_t cancel, int64_t* reclaimed);
/* op VEGA_SNAPSHOT_*: name (UTF-8, [A-Za-z0-9._-], not starting with '.') under <store>/snapshots.
   A snapshot hard-links the immutable files and copies the manifest; restore makes the store that state. */
int32_t vega_store_snapshot(int64_t store, int32_t op, const uint8_t* name, size_t length, int64_t cancel);
/* Closes the store (after queries running on other threads finish) and frees the id. */
int32_t vega_store_close(int64_t store);
/* END CDEF */

#ifdef __cplusplus
}
#endif

#endif /* VEGA_H */
