/* The flat-document reader of xmlcodec._parse_flat, in C.
 *
 * parse(body) takes the bytes of a push as received and returns the dict that
 * xmlcodec.parse_xml returns for it, or None whenever the body is not of the plain shape below or
 * holds anything that xmlcodec would clean or look at twice (a BOM, leading whitespace, a C0
 * control, CR, U+FFFE/U+FFFF, invalid UTF-8, nesting, attributes, entities, comments...). None
 * is never an error: the caller then cleans the body and tries again (this reader stands in for
 * _parse_flat on the cleaned bytes too), and hands what is still not flat to expat.
 *
 * The shape, as xmlcodec's _FLAT_CHILDREN regular expression reads it:
 *
 *   "<xml>" (WS | CHILD)* "</xml>" WS*          WS = space, tab or LF
 *   CHILD = "<" NAME ">" ( WS* "<![CDATA[" text up to the first "]]>" "]]>" WS*
 *                        | text without "<", "&" or "]" ) "</" NAME ">"
 *   NAME  = [A-Za-z_][A-Za-z0-9_.-]*
 *
 * A CDATA value is kept verbatim; a plain value is str.strip()ped. A repeated child's values are
 * collected in a list, in order, where its first occurrence stood.
 *
 * Only the input bytes are read, every index is checked against the end of the document, and no
 * buffer is written: the objects are made by the CPython API.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static int
is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

static int
is_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int
is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* Bytes that make the document "not plain": C0 controls (xmlcodec drops all but tab and LF, and
 * CR needs line-end normalisation), and the UTF-8 lead of U+FFFE/U+FFFF (checked where found). */
static int
has_unusual_bytes(const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20 && c != '\t' && c != '\n') {
            return 1;
        }
        if (c == 0xEF && i + 2 < n && s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF)) {
            return 1;
        }
    }
    return 0;
}

/* The first "]]>" in s[from:end], or -1. */
static Py_ssize_t
find_cdata_end(const unsigned char *s, Py_ssize_t from, Py_ssize_t end)
{
    while (from + 3 <= end) {
        const unsigned char *hit = memchr(s + from, ']', (size_t)(end - from));
        if (hit == NULL) {
            return -1;
        }
        Py_ssize_t at = hit - s;
        if (at + 3 <= end && s[at + 1] == ']' && s[at + 2] == '>') {
            return at;
        }
        from = at + 1;
    }
    return -1;
}

/* The text of a value: NULL with no exception set when it is not valid UTF-8. */
static PyObject *
decode_value(const unsigned char *s, Py_ssize_t n, int strip)
{
    PyObject *text = PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
        }
        return NULL;
    }
    /* str.strip() knows Unicode's whitespace; it can only change anything when the value starts
     * or ends with ASCII whitespace or a non-ASCII character. */
    if (strip && n > 0 && (s[0] <= ' ' || s[0] >= 0x80 || s[n - 1] <= ' ' || s[n - 1] >= 0x80)) {
        PyObject *stripped = PyObject_CallMethod(text, "strip", NULL);
        Py_DECREF(text);
        return stripped;
    }
    return text;
}

/* doc[name] = value, or a list of the values of a repeated child. 0 on success. */
static int
add_child(PyObject *doc, PyObject *name, PyObject *value)
{
    PyObject *existing = PyDict_GetItemWithError(doc, name); /* borrowed */
    if (existing == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        return PyDict_SetItem(doc, name, value);
    }
    if (PyList_CheckExact(existing)) {
        return PyList_Append(existing, value);
    }
    PyObject *both = PyList_New(2);
    if (both == NULL) {
        return -1;
    }
    Py_INCREF(existing);
    PyList_SET_ITEM(both, 0, existing);
    Py_INCREF(value);
    PyList_SET_ITEM(both, 1, value);
    int rc = PyDict_SetItem(doc, name, both);
    Py_DECREF(both);
    return rc;
}

#define NOT_FLAT 1 /* read_children's answer for "not of the plain shape" */

/* Reads s[pos:end] (between <xml> and </xml>) into doc: 0, NOT_FLAT, or -1 with an exception. */
static int
read_children(PyObject *doc, const unsigned char *s, Py_ssize_t pos, Py_ssize_t end)
{
    static const char open_cdata[] = "<![CDATA[";
    const Py_ssize_t open_len = (Py_ssize_t)(sizeof(open_cdata) - 1);

    for (;;) {
        while (pos < end && is_ws(s[pos])) {
            pos++;
        }
        if (pos == end) {
            return 0;
        }
        /* <NAME> */
        if (s[pos] != '<' || pos + 1 >= end || !is_name_start(s[pos + 1])) {
            return NOT_FLAT;
        }
        Py_ssize_t name_at = pos + 1, name_end = pos + 2;
        while (name_end < end && is_name_char(s[name_end])) {
            name_end++;
        }
        if (name_end >= end || s[name_end] != '>') {
            return NOT_FLAT;
        }
        Py_ssize_t name_len = name_end - name_at;
        pos = name_end + 1;

        /* The value: one CDATA section with whitespace around it, or plain text. */
        Py_ssize_t value_at, value_end, after;
        int plain;
        Py_ssize_t p = pos;
        while (p < end && is_ws(s[p])) {
            p++;
        }
        if (end - p >= open_len && memcmp(s + p, open_cdata, (size_t)open_len) == 0) {
            value_at = p + open_len;
            value_end = find_cdata_end(s, value_at, end);
            if (value_end < 0) {
                return NOT_FLAT;
            }
            after = value_end + 3;
            while (after < end && is_ws(s[after])) {
                after++;
            }
            plain = 0;
        }
        else {
            value_at = pos;
            after = pos;
            while (after < end && s[after] != '<' && s[after] != '&' && s[after] != ']') {
                after++;
            }
            value_end = after;
            plain = 1;
        }
        /* </NAME> */
        if (end - after < name_len + 3 || s[after] != '<' || s[after + 1] != '/'
            || memcmp(s + after + 2, s + name_at, (size_t)name_len) != 0
            || s[after + 2 + name_len] != '>') {
            return NOT_FLAT;
        }
        pos = after + name_len + 3;

        PyObject *value = decode_value(s + value_at, value_end - value_at, plain);
        if (value == NULL) {
            return PyErr_Occurred() ? -1 : NOT_FLAT;
        }
        PyObject *name = PyUnicode_DecodeASCII((const char *)s + name_at, name_len, NULL);
        if (name == NULL) {
            Py_DECREF(value);
            return -1;
        }
        int rc = add_child(doc, name, value);
        Py_DECREF(name);
        Py_DECREF(value);
        if (rc < 0) {
            return -1;
        }
    }
}

static PyObject *
parse(PyObject *module, PyObject *body)
{
    if (!PyBytes_CheckExact(body)) {
        Py_RETURN_NONE;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(body);
    Py_ssize_t n = PyBytes_GET_SIZE(body);
    while (n > 0 && is_ws(s[n - 1])) {
        n--;
    }
    if (n < 11 || memcmp(s, "<xml>", 5) != 0 || memcmp(s + n - 6, "</xml>", 6) != 0
        || has_unusual_bytes(s, n)) {
        Py_RETURN_NONE;
    }
    PyObject *doc = PyDict_New();
    if (doc == NULL) {
        return NULL;
    }
    int rc = read_children(doc, s, 5, n - 6);
    if (rc == 0) {
        return doc;
    }
    Py_DECREF(doc);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_O,
     "parse(body, /)\n--\n\n"
     "The dict of a plain flat WeChat document's children, or None for anything else."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wxhook.core._flatxml",
    .m_doc = "C reader for WeChat's plain flat XML documents (see xmlcodec._parse_flat).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__flatxml(void)
{
    return PyModuleDef_Init(&module_def);
}
