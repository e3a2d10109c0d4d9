// Package icon holds the ICON JSON-RPC v3 wire vocabulary shared by the edge,
// the simulator and the tools: error codes and messages exactly as goloop
// writes them, strict hex formats, and transaction hashing and signing.
package icon

import (
	"strconv"
)

// JSON-RPC and goloop error codes. goloop maps SCORE failures to
// CodeSCOREBase - status (e.g. -30002 ContractNotFound, -30003 MethodNotFound).
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	CodeServerError    = -32000

	CodeSystemError   = -31000
	CodePoolOverflow  = -31001
	CodePending       = -31002
	CodeExecuting     = -31003
	CodeNotFound      = -31004
	CodeLackOfRes     = -31005
	CodeTimeout       = -31006
	CodeSystemTimeout = -31007

	CodeSCOREBase = -30000
)

// Error is a JSON-RPC error object. Data is raw JSON (nil when absent) so an
// upstream's data field can be passed on byte for byte.
type Error struct {
	Code    int
	Message string
	Data    []byte
}

func (e *Error) Error() string { return strconv.Itoa(e.Code) + " " + e.Message }

// NewError builds an error with no data.
func NewError(code int, msg string) *Error { return &Error{Code: code, Message: msg} }

// Errors whose text goloop fixes; reused so the hot path does not allocate them.
var (
	ErrParse           = NewError(CodeParseError, "ParseError")
	ErrInvalidRequest  = NewError(CodeInvalidRequest, "InvalidRequest")
	ErrMethodNotFound  = NewError(CodeMethodNotFound, "MethodNotFound")
	ErrEmptyBody       = NewError(CodeInvalidRequest, "InvalidRequest: fail to unmarshal, EOF")
	ErrNotObject       = NewError(CodeInvalidRequest, "InvalidRequest: fail to unmarshal, request must be object type")
	ErrNoMethod        = NewError(CodeInvalidRequest, "InvalidRequest: fail to validate, required('method')")
	ErrNoVersion       = NewError(CodeInvalidRequest, "InvalidRequest: fail to validate, required('jsonrpc')")
	ErrBadVersion      = NewError(CodeInvalidRequest, "InvalidRequest: fail to validate, version('jsonrpc')")
	ErrBadID           = NewError(CodeInvalidRequest, "InvalidRequest: fail to validate, id('id')")
	ErrParamsRequired  = NewError(CodeInvalidParams, "InvalidParams: fail to unmarshal, 'params' of request is required ")
	ErrParamsNotObject = NewError(CodeInvalidParams, "InvalidParams: fail to unmarshal, 'params' of request must be object type")
	// ErrTooManyRequests is goloop's answer (HTTP 503, id null) to a batch over rpcBatchLimit.
	ErrTooManyRequests = &Error{Code: CodeInvalidRequest, Message: "InvalidRequest", Data: []byte(`"too many request"`)}
)

// UnknownFieldError is goloop's answer to an unexpected top-level request field.
func UnknownFieldError(field string) *Error {
	return NewError(CodeInvalidRequest, "InvalidRequest: fail to unmarshal, unknown field '"+field+"'")
}

// UnknownParamError is goloop's answer to an unexpected field inside params.
func UnknownParamError(field string) *Error {
	return NewError(CodeInvalidParams, "InvalidParams: fail to unmarshal, unknown field '"+field+"'")
}

// ValidateParamError is goloop's "fail to validate" answer, e.g. kind "t_addr" and field "address".
func ValidateParamError(kind, field string) *Error {
	return NewError(CodeInvalidParams, "InvalidParams: fail to validate, "+kind+"('"+field+"')")
}

// AppendResponseError appends a complete JSON-RPC error response (no newline)
// for the given raw JSON id ("null" when nil).
func AppendResponseError(dst []byte, id []byte, e *Error) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(e.Code), 10)
	dst = append(dst, `,"message":`...)
	dst = AppendJSONString(dst, e.Message)
	if len(e.Data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, e.Data...)
	}
	dst = append(dst, `},"id":`...)
	if len(id) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, id...)
	}
	return append(dst, '}')
}

// AppendResponseResult appends a JSON-RPC success response for a raw result and raw id.
func AppendResponseResult(dst []byte, id []byte, result []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","result":`...)
	dst = append(dst, result...)
	dst = append(dst, `,"id":`...)
	if len(id) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, id...)
	}
	return append(dst, '}')
}

// AppendJSONString appends s as a JSON string the way Go's encoding/json
// (and so goloop) writes it, HTML-safe escapes included.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
