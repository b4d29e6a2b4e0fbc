package kitexlogrus

import (
	"bytes"
	"maps"
	"strings"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/sirupsen/logrus"
)

// LogrusLevel maps a klog level to its logrus level. Notice, which logrus
// lacks, is logrus.InfoLevel.
func LogrusLevel(l klog.Level) logrus.Level {
	switch l {
	case klog.LevelTrace:
		return logrus.TraceLevel
	case klog.LevelDebug:
		return logrus.DebugLevel
	case klog.LevelInfo, klog.LevelNotice:
		return logrus.InfoLevel
	case klog.LevelWarn:
		return logrus.WarnLevel
	case klog.LevelError:
		return logrus.ErrorLevel
	}
	return logrus.FatalLevel
}

// levelName is the name of e's level as the slog adapter prints it.
func levelName(e *logrus.Entry) string {
	switch e.Level {
	case logrus.TraceLevel:
		return "TRACE"
	case logrus.DebugLevel:
		return "DEBUG"
	case logrus.InfoLevel:
		if isNotice(e.Context) {
			return "NOTICE"
		}
		return "INFO"
	case logrus.WarnLevel:
		return "WARN"
	case logrus.ErrorLevel:
		return "ERROR"
	case logrus.FatalLevel:
		return "FATAL"
	case logrus.PanicLevel:
		return "PANIC"
	}
	return strings.ToUpper(e.Level.String())
}

// timeFormat is the slog JSON handler's: RFC 3339 with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// placeholderKey is where the wrapped JSONFormatter writes logrus's level
// name, cut from the line afterwards. Its NUL sorts it before every other
// key but "", so it is found at the start of the object.
const placeholderKey = "\x00kitexlogrus.level"

// placeholderJSON is placeholderKey as encoding/json writes it, with the
// colon.
var placeholderJSON = []byte(`"\u0000kitexlogrus.level":`)

// formatter is a logrus.JSONFormatter that writes the klog level names.
type formatter struct {
	json     logrus.JSONFormatter // level key: placeholderKey; DataKey: ""
	levelKey string
	dataKey  string
}

// NewFormatter returns a logrus.Formatter writing what base does with the
// level names TRACE, DEBUG, INFO, NOTICE, WARN, ERROR and FATAL (NOTICE for
// the Logger's Notice records), as the slog adapter prints them. A nil base
// is the Logger's own formatter: logrus.JSONFormatter with the keys time
// (RFC 3339 with milliseconds), level and msg. base is copied; its FieldMap,
// DataKey and other settings keep their meaning.
//
// logrus.JSONFormatter always writes Level.String() under the level key, so
// the returned formatter writes the klog name under that key as a field, has
// base write logrus's name under a placeholder key and cuts that pair from
// the line.
func NewFormatter(base *logrus.JSONFormatter) logrus.Formatter {
	f := &formatter{levelKey: logrus.FieldKeyLevel}
	if base == nil {
		f.json = logrus.JSONFormatter{TimestampFormat: timeFormat, FieldMap: logrus.FieldMap{
			logrus.FieldKeyTime: "time", logrus.FieldKeyLevel: "level", logrus.FieldKeyMsg: "msg",
		}}
	} else {
		f.json = *base
	}
	if k, ok := f.json.FieldMap[logrus.FieldKeyLevel]; ok {
		f.levelKey = k
	}
	fm := make(logrus.FieldMap, len(f.json.FieldMap)+1)
	maps.Copy(fm, f.json.FieldMap)
	fm[logrus.FieldKeyLevel] = placeholderKey
	f.json.FieldMap = fm
	// DataKey nests the fields, and so would the level field: the nesting is
	// done here instead, as JSONFormatter does it.
	f.dataKey, f.json.DataKey = f.json.DataKey, ""
	return f
}

// Format implements logrus.Formatter.
func (f *formatter) Format(e *logrus.Entry) ([]byte, error) {
	data := make(logrus.Fields, len(e.Data)+2)
	if f.dataKey != "" && len(e.Data) > 0 {
		nested := make(logrus.Fields, len(e.Data))
		for k, v := range e.Data {
			if err, ok := v.(error); ok {
				v = err.Error() // as JSONFormatter does: encoding/json drops errors
			}
			nested[k] = v
		}
		data[f.dataKey] = nested
	} else {
		maps.Copy(data, e.Data)
	}
	if v, ok := data[f.levelKey]; ok {
		data["fields."+f.levelKey] = v // logrus's rule for a clashing field
	}
	data[f.levelKey] = levelName(e)
	c := *e
	c.Data = data
	b, err := f.json.Format(&c)
	if err != nil {
		return nil, err
	}
	return cutPlaceholder(b), nil
}

// cutPlaceholder removes the placeholder pair, its comma and the white space
// after it (PrettyPrint) from b, in place.
func cutPlaceholder(b []byte) []byte {
	i := bytes.Index(b, placeholderJSON)
	if i < 0 {
		return b
	}
	end := i + len(placeholderJSON)
	for end < len(b) && b[end] == ' ' {
		end++
	}
	if end >= len(b) || b[end] != '"' {
		return b
	}
	q := bytes.IndexByte(b[end+1:], '"') // level names hold no quote
	if q < 0 {
		return b
	}
	end += q + 2
	if end < len(b) && b[end] == ',' {
		end++
		for end < len(b) && (b[end] == ' ' || b[end] == '\n') {
			end++
		}
	} else {
		// The last pair: drop the comma before it instead.
		for i > 0 && (b[i-1] == ' ' || b[i-1] == '\n') {
			i--
		}
		if i > 0 && b[i-1] == ',' {
			i--
		}
	}
	return append(b[:i], b[end:]...)
}
